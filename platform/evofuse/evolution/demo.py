"""For `make demo`: simulated users run tasks and rate them, then one evolution cycle runs.

Every run goes through the real runtime (skill selection, fused steps, run records) and every
rating through `record_feedback`, exactly as API clients would; only the users are made up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evofuse.evolution.report import CycleReport

if TYPE_CHECKING:
    from evofuse.services import Services

DEMO_USERS = ("ana", "bilal", "chen", "dana")
DEMO_TASKS = (
    "Write a git commit message for this change: the search pager skipped the last page "
    "because of an off-by-one error in the page count.",
    "Write a git commit message for this change: login emails were sent twice when a user "
    "clicked the button quickly.",
    "Write a git commit message for this change: the CSV export dropped rows whose names "
    "contained a comma.",
)
DEMO_COMMENT = "The subject line is too long and it never says why the change was needed."


@dataclass(frozen=True)
class DemoRun:
    user: str
    run_id: str
    skill: str | None
    answer: str


async def simulate_and_evolve(
    services: Services,
    *,
    graph: str = "assistant",
    users: Sequence[str] = DEMO_USERS,
    tasks: Sequence[str] = DEMO_TASKS,
    skill: str | None = "commit-message",
    score: float = 0.2,
    comment: str = DEMO_COMMENT,
    evolution: dict[str, Any] | None = None,
    on_run: Callable[[DemoRun], None] | None = None,
) -> tuple[list[DemoRun], CycleReport]:
    """Each user runs every task on `graph` (forcing `skill` when given) and rates it `score`
    with `comment`; then one cycle runs with `evolution` overrides (e.g. fewer replay tasks for
    a slow local model). Returns the runs and the cycle's report."""
    from evofuse.evolution.cycle import EvolutionCycle
    from evofuse.store.feedback import record_feedback

    runs: list[DemoRun] = []
    async with services.runner() as runner:
        for user in users:
            for task in tasks:
                options: dict[str, Any] = {"user": user, "tenant": "demo"}
                if skill is not None:
                    options["skill"] = skill
                result = await runner.run(graph, task, **options)
                record_feedback(services.store, run_id=result.run_id, score=score, comment=comment)
                run = DemoRun(
                    user,
                    result.run_id,
                    (result.skill or {}).get("name"),
                    result.answer,
                )
                runs.append(run)
                if on_run is not None:
                    on_run(run)
    settings = services.settings
    # The simulated users are the demo's own, so it vouches for their user ids (a deployment
    # does the same for a tenant it trusts with `evolution.trusted_user_ids`).
    trusted = [*settings.evolution.trusted_user_ids, "demo"]
    overrides = {**(evolution or {}), "trusted_user_ids": trusted}
    changed = settings.evolution.model_copy(update=overrides)
    settings = settings.model_copy(update={"evolution": changed})
    cycle = EvolutionCycle(
        settings,
        store=services.store,
        library=services.library,
        engine=services.engine,
        trigger="demo",
    )
    return runs, await cycle.execute()

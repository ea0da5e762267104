"""For `make demo`: simulated users run tasks and rate them, then one evolution cycle runs.

Every run goes through the real runtime (skill selection, fused steps, run records) and every
rating through `record_feedback`, exactly as API clients would; only the users are made up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evofuse.evolution.report import CycleReport
from evofuse.options import FusionOptions, ModelSettings

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
# Short on purpose: the gate refuses added text that repeats 9+ words of a comment, and a
# 135M model tends to copy what it reads. A short comment keeps that check honest but passable.
DEMO_COMMENT = "Subject line too long; never says why."


def planned_run_ids(
    users: Sequence[str], per_user: int, holdout_percent: float
) -> dict[tuple[str, int], str]:
    """Run ids for a small demo: each user's last run in the held-out share, the others not.

    Which runs the gate may replay is decided by a hash of the run id (`is_held_out`). With a
    handful of runs, chance alone often leaves no held-out task (the gate then cannot replay)
    or leaves a user without evidence. So the demo draws random ids until each lands on the
    side it needs: every user is evidence for the Evolver and also contributes one task the
    Evolver never sees.
    """
    from evofuse.evolution.evidence import is_held_out

    ids: dict[tuple[str, int], str] = {}
    for user in users:
        for n in range(per_user):
            want = n == per_user - 1
            while True:
                run_id = uuid.uuid4().hex
                if is_held_out(run_id, holdout_percent) == want:
                    ids[(user, n)] = run_id
                    break
    return ids


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
    per_user: int | None = None,
    max_tokens: int | None = None,
) -> tuple[list[DemoRun], CycleReport]:
    """Each user runs tasks on `graph` (forcing `skill` when given) and rates them `score`
    with `comment`; then one cycle runs with `evolution` overrides (e.g. fewer replay tasks for
    a slow local model). Returns the runs and the cycle's report.

    By default every user runs every task and the held-out split is left to chance. With
    `per_user`, user i runs `per_user` tasks starting at task i (so users ask different things),
    and each user's last run is held out for the gate's replay (see `planned_run_ids`).
    `max_tokens` bounds each answer of the simulated runs.
    """
    from evofuse.evolution.cycle import EvolutionCycle
    from evofuse.store.feedback import record_feedback

    settings = services.settings
    # The simulated users are the demo's own, so it vouches for their user ids (a deployment
    # does the same for a tenant it trusts with `evolution.trusted_user_ids`).
    trusted = [*settings.evolution.trusted_user_ids, "demo"]
    overrides = {**(evolution or {}), "trusted_user_ids": trusted}
    changed = settings.evolution.model_copy(update=overrides)
    settings = settings.model_copy(update={"evolution": changed})
    plan: list[tuple[str, str, str | None]] = []
    if per_user is None:
        plan = [(user, task, None) for user in users for task in tasks]
    else:
        ids = planned_run_ids(users, per_user, settings.evolution.holdout_percent)
        plan = [
            (user, tasks[(i + n) % len(tasks)], ids[(user, n)])
            for i, user in enumerate(users)
            for n in range(per_user)
        ]
    runs: list[DemoRun] = []
    options = FusionOptions(sampling=ModelSettings(max_tokens=max_tokens))
    async with services.runner() as runner:
        for user, task, run_id in plan:
            result = await runner.run(
                graph,
                task,
                options=options,
                user=user,
                tenant="demo",
                skill=skill,
                run_id=run_id,
            )
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
    cycle = EvolutionCycle(
        settings,
        store=services.store,
        library=services.library,
        engine=services.engine,
        trigger="demo",
    )
    return runs, await cycle.execute()

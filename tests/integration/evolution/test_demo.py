"""The demo's simulation: users run tasks through the real runtime, rate them, one cycle runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from evofuse.evolution.demo import DEMO_TASKS, simulate_and_evolve
from evofuse.services import Services
from evofuse.testing import UpstreamServer
from tests.integration.evolution.conftest import Brain, make_settings

REPO = Path(__file__).resolve().parents[3]


def test_simulated_users_and_feedback_feed_one_cycle(
    upstream: UpstreamServer, brain: Brain, tmp_path: Path
) -> None:
    settings = make_settings(upstream.base_url, f"sqlite:///{tmp_path}/e.db", tmp_path / "c")
    settings = settings.model_copy(
        update={
            "graphs": str(REPO / "langgraph.json"),
            "skills": settings.skills.model_copy(update={"dir": REPO / "skills"}),
        }
    )
    brain.evolver = "skip"
    services = Services.from_settings(settings)
    try:
        runs, report = asyncio.run(
            simulate_and_evolve(
                services,
                users=["ana", "bilal", "chen"],
                tasks=DEMO_TASKS[:2],
                # Hold out (almost) nothing: six runs are all the evidence there is.
                evolution={"replay_tasks": 1, "holdout_percent": 1},
            )
        )
    finally:
        services.close()

    assert len(runs) == 6 and {r.skill for r in runs} == {"commit-message"}
    assert report.trigger == "demo" and report.status == "finished"
    [evidence] = [e for e in report.evidence if e.skill == "commit-message"]
    assert evidence.supporters == 3 and evidence.comments > 0
    assert evidence.weighted_mean == 0.2  # the users' ratings outweigh the judge's scores
    assert evidence.note == "sent to the Evolver"
    # The runtime recorded each run's task, which is what the Evolver is shown (scrubbed).
    assert all(i["task"].startswith("Write a git commit message") for i in evidence.items)
    [proposal] = report.proposals
    assert (proposal.skill, proposal.action, proposal.status) == (
        "commit-message",
        "skip",
        "skipped",
    )

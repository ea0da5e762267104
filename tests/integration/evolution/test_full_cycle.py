"""A full cycle: poor outcomes from three users → an improved version → gate → canary → default."""

from __future__ import annotations

from datetime import timedelta

from evofuse.skills import LibrarySkillChooser
from evofuse.store.evolution import CanaryRow
from tests.integration.evolution.conftest import FIX, Env, poor_outcomes


def test_three_users_poor_outcomes_lead_to_an_improved_version_that_is_selected(env: Env) -> None:
    env.publish()
    poor_outcomes(env, ["alice", "bob", "carol"])
    env.held_out_tasks(4)

    report = env.cycle()

    assert report.status == "finished", report.error
    [proposal] = report.proposals
    assert proposal.action == "improve"
    assert proposal.status == "promoted", proposal.reason
    assert proposal.supporters == 3
    assert [c.name for c in proposal.gate] == [
        "valid",
        "scope",
        "size",
        "allowed_tools",
        "pii",
        "verbatim_feedback",
        "new_content",
        "injected_link",
        "injected_code",
        "injected_instruction",
        "injected_phrase",
        "support",
        "replay",
    ]
    assert all(c.passed for c in proposal.gate)
    assert proposal.replay is not None and proposal.replay.wins == 3
    assert {j.candidate_first for j in proposal.replay.judgments} == {True, False}
    assert proposal.change is not None and proposal.change.edits == 1
    assert report.cost_usd > 0
    assert "evolver.v2" in report.prompt_versions and "replay_judge.v2" in report.prompt_versions

    # The new version serves its canary share (100 % here): a brand-new user gets it at once.
    chooser = LibrarySkillChooser(env.library, seed=1)
    task = "Review this SQL query and migration for slow plans and locking risks"
    choice = chooser.choose(task, tenant="other", user="dave", skill=None)
    assert choice is not None and choice["version"] == 2, choice
    assert FIX in choice["instructions"]
    assert [v.status for v in env.library.versions("sql-review")] == ["active", "candidate"]

    # Good live outcomes for v2; the next cycle makes it the default, in SQL and in Chroma.
    for user in ("erin", "frank", "gina", "hal", "ivy"):
        env.record(user, version=2, score=0.9, age=timedelta(0))
    env.brain.evolver = "skip"
    second = env.cycle()
    [decision] = second.canaries
    assert decision.decision == "promoted", decision.reason
    assert [v.status for v in env.library.versions("sql-review")] == ["retired", "active"]
    assert env.library.search(task)[0].version == 2
    with env.store.session() as session:
        assert session.get(CanaryRow, 1).status == "promoted"  # type: ignore[union-attr]

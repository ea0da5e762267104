"""A skill that changes between a proposal and its publication (import, rollback, another replica).

The change lands while the Evolver's model call is in flight (the scripted model makes it
before answering), so the cycle gates a proposal built on a version that is no longer active.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import select

from evofuse.errors import StaleVersionError
from evofuse.skills import Bundle, BundleFile, Origin
from evofuse.store.evolution import CanaryRow
from tests.integration.evolution.conftest import FIX, SKILL, Brain, Env, poor_outcomes

OUTPUT_BEFORE = "Verdict, then blocking issues with corrected SQL."
OUTPUT_AFTER = "Verdict, then blocking issues with corrected SQL and the query plan."


@dataclass
class RacingBrain(Brain):
    """Runs `before_evolve` once, when the first Evolver prompt arrives; can also retire."""

    before_evolve: Callable[[], None] | None = None

    def _evolve(self, prompt: str) -> dict[str, Any]:
        hook, self.before_evolve = self.before_evolve, None
        if hook is not None:
            hook()
        answer = super()._evolve(prompt)
        if self.evolver == "retire":
            return {
                "action": "retire",
                "rationale": answer["rationale"],
                "evidence": answer["evidence"],
            }
        return answer

    def _answer(self, system: str) -> str:
        if self.evolver == "retire" and "# SQL review" not in system:
            return "IMPROVED: answered better without the skill."  # retiring it wins the replay
        return super()._answer(system)


@pytest.fixture
def brain() -> Brain:
    return RacingBrain()


def _bundle(text: str) -> Bundle:
    return Bundle.of([BundleFile("SKILL.md", text.encode())])


def _skill_md(env: Env, version: int) -> str:
    return env.library.load("sql-review", version=version).bundle.skill_md.decode()


def _race(env: Env, change: Callable[[], None]) -> None:
    assert isinstance(env.brain, RacingBrain)
    env.brain.before_evolve = change


def test_a_proposal_is_reapplied_to_a_version_imported_meanwhile(env: Env) -> None:
    env.publish()
    poor_outcomes(env, ["alice", "bob", "carol"])
    env.held_out_tasks(4)
    imported = SKILL.replace(OUTPUT_BEFORE, OUTPUT_AFTER)
    _race(env, lambda: env.library.publish(_bundle(imported), origin=Origin.IMPORT))

    report = env.cycle()

    assert report.status == "finished", report.error
    [proposal] = report.proposals
    assert proposal.status == "promoted", proposal.reason
    assert (proposal.rebased_from, proposal.base_version, proposal.new_version) == (1, 2, 3)
    assert "re-applied to v2" in proposal.reason
    assert all(c.passed for c in proposal.gate)  # gated again on the new base
    v3 = _skill_md(env, 3)
    assert FIX in v3 and OUTPUT_AFTER in v3  # the proposal's edit and the import's, both kept
    versions = env.library.versions("sql-review")
    assert [(v.version, v.status, v.parent_version) for v in versions] == [
        (1, "retired", None),
        (2, "active", 1),
        (3, "candidate", 2),
    ]
    with env.store.session() as session:
        [canary] = session.exec(select(CanaryRow)).all()
    assert canary.baseline_version_id == versions[1].id  # judged against what is live now


def test_a_proposal_is_reapplied_after_a_manual_rollback(env: Env) -> None:
    env.publish()
    env.library.publish(_bundle(SKILL.replace(OUTPUT_BEFORE, OUTPUT_AFTER)))
    poor_outcomes(env, ["alice", "bob", "carol"], version=2)
    env.held_out_tasks(4)
    _race(env, lambda: env.library.rollback("sql-review", to=1))

    report = env.cycle()

    [proposal] = report.proposals
    assert proposal.status == "promoted", proposal.reason
    assert (proposal.rebased_from, proposal.base_version, proposal.new_version) == (2, 1, 3)
    v3 = _skill_md(env, 3)
    assert FIX in v3 and OUTPUT_AFTER not in v3  # built on the rolled-back-to version
    assert env.library.versions("sql-review")[0].status == "active"


def test_a_proposal_whose_edit_no_longer_applies_is_dropped_as_a_stale_base(env: Env) -> None:
    env.publish()
    poor_outcomes(env, ["alice", "bob", "carol"])
    env.held_out_tasks(4)
    # The Evolver's edit replaces the "## Checklist" line; this version changes that very line.
    conflicting = SKILL.replace("## Checklist", "## Checks before approving")
    _race(env, lambda: env.library.publish(_bundle(conflicting), origin=Origin.IMPORT))

    report = env.cycle()

    assert report.status == "finished", report.error
    [proposal] = report.proposals
    assert proposal.status == "dropped"
    assert proposal.reason.startswith("stale base: v2 is active now, the proposal was made for v1")
    assert proposal.new_version is None
    assert [(v.version, v.status) for v in env.library.versions("sql-review")] == [
        (1, "retired"),
        (2, "active"),
    ]
    with env.store.session() as session:
        assert session.exec(select(CanaryRow)).all() == []
    assert "1 dropped" in report.summary()


def test_a_retire_proposal_for_a_replaced_version_is_dropped(env: Env) -> None:
    env.publish()
    poor_outcomes(env, ["alice", "bob", "carol"])
    env.held_out_tasks(4)
    env.brain.evolver = "retire"
    _race(
        env,
        lambda: env.library.publish(_bundle(SKILL.replace(OUTPUT_BEFORE, OUTPUT_AFTER))),
    )

    report = env.cycle()

    [proposal] = report.proposals
    assert proposal.action == "retire"
    assert proposal.status == "dropped", proposal.reason
    assert proposal.reason == "stale base: v2 is active now, the proposal was made for v1"
    assert env.library.versions("sql-review")[1].status == "active"


def test_publishing_on_a_base_that_is_no_longer_active_is_refused(env: Env) -> None:
    env.publish()
    env.library.publish(_bundle(SKILL.replace(OUTPUT_BEFORE, OUTPUT_AFTER)))
    with pytest.raises(StaleVersionError, match="v1 is no longer the active version"):
        env.library.publish(_bundle(SKILL.replace("## Checklist", "## Checks")), expect_active=1)
    assert len(env.library.versions("sql-review")) == 2  # nothing was written
    published = env.library.publish(_bundle(SKILL + "\nMore.\n"), expect_active=2)
    assert published.version.version == 3

"""The Extractor: a recurring need without a skill becomes a new skill; a covered one, evidence."""

from __future__ import annotations

from evofuse.skills import LibrarySkillChooser
from tests.integration.evolution.conftest import Env

HAIKU_TASKS = [
    "Write a haiku about autumn leaves falling",
    "Write a haiku about autumn rain on the roof",
    "Write a haiku about the autumn moon",
    "Write a haiku about autumn wind in the trees",
    "Write a haiku about autumn leaves in the park",
    "Write a haiku about an autumn evening",
]
HAIKU_SKILL = """---
name: haiku-writer
description: >-
  Write haiku: three lines of five, seven and five syllables about a moment in nature.
  NOT for: long poems, song lyrics or prose.
---
# Haiku

Extracted skill marker. Count syllables per line (5-7-5), use one seasonal word, and end on an
image rather than a statement.
"""
SQL_TASKS = [
    "Review SQL queries and migrations for wrong results, slow plans and locking risks",
    "Review this SQL migration for locking risks and slow query plans",
    "Review these SQL queries for wrong results and slow plans",
]


def test_a_need_shared_by_three_users_becomes_a_new_gated_skill(env: Env) -> None:
    env.publish()
    for i, task in enumerate(HAIKU_TASKS * 2):
        env.record(f"poet-{i % 3}", skill=None, task=task)
    for i, task in enumerate(HAIKU_TASKS[:4]):
        env.record(f"reader-{i}", skill=None, task=task, held_out=True)
    env.brain.extractor, env.brain.new_skill_md = "create", HAIKU_SKILL

    report = env.cycle()

    [proposal] = [p for p in report.proposals if p.source == "extractor"]
    assert proposal.action == "create" and proposal.skill == "haiku-writer"
    assert proposal.status == "promoted", proposal.reason
    assert proposal.supporters == 3
    assert proposal.replay is not None and proposal.replay.wins == 3
    assert any(c.outcome == "proposed" and c.users == 3 for c in report.clusters)
    [v1] = env.library.versions("haiku-writer")
    assert (v1.status, v1.origin) == ("active", "evolution")
    choice = LibrarySkillChooser(env.library, seed=1).choose(
        "Write a haiku about autumn fog", tenant="", user="new-user", skill=None
    )
    assert choice is not None and choice["name"] == "haiku-writer"
    extractor_prompt = next(p for p in env.brain.seen if "no existing skill covers well" in p)
    assert "Write a haiku about autumn" in extractor_prompt


def test_tasks_an_existing_skill_covers_become_its_evidence_not_a_new_skill(env: Env) -> None:
    env.publish()
    for i, task in enumerate(SQL_TASKS * 2):
        env.record(f"user-{i % 3}", skill=None, task=task)
    env.brain.extractor = "create"

    report = env.cycle()

    assert not any("no existing skill covers well" in p for p in env.brain.seen)
    matched = [c for c in report.clusters if c.outcome.startswith("evidence for sql-review")]
    assert sum(c.tasks for c in matched) == 6
    [evidence] = report.evidence
    missed = [i for i in evidence.items if i["kind"] == "missed"]
    assert len(missed) == 5 and len({i["user"] for i in missed}) == 3  # three tenants

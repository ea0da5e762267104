"""Per-skill work in a cycle overlaps, `evolution.concurrency` skills at a time."""

from __future__ import annotations

import pytest

from evofuse.testing import RecordedRequest
from tests.integration.evolution.conftest import SKILL, Env, poor_outcomes

SKILLS = 6
LATENCY_MS = 1500.0  # long enough that a busy machine still starts every call in time


def _most_at_once(requests: list[RecordedRequest]) -> int:
    events = sorted(
        [(r.started, 1) for r in requests] + [(r.ended or r.started, -1) for r in requests],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


@pytest.mark.parametrize("concurrency", [1, 3])
def test_skills_are_evolved_concurrently_up_to_the_limit(env: Env, concurrency: int) -> None:
    names = [f"sql-review-{i}" for i in range(SKILLS)]
    for name in names:
        env.publish(SKILL.replace("name: sql-review", f"name: {name}"))
        poor_outcomes(env, ["alice", "bob", "carol"], per_user=2, skill=name)
    env.brain.evolver = "skip"
    env.with_evolution(concurrency=concurrency)
    env.upstream.script.models["m1"].latency_ms = LATENCY_MS

    report = env.cycle()

    assert report.status == "finished", report.error
    assert sorted(p.skill for p in report.proposals) == names
    assert [p.skill for p in report.proposals] == [e.skill for e in report.evidence]  # in order
    asks = [
        r
        for r in env.upstream.requests_for("m1")
        if any("## Current SKILL.md of" in str(m.get("content")) for m in r.messages)
    ]
    assert len(asks) == SKILLS
    assert _most_at_once(asks) == concurrency

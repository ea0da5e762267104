"""Evidence: recency weights, one supporter per user (or per tenant), a stable held-out share."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta

import pytest

from evofuse.config.models import EvolutionSettings
from evofuse.evolution.evidence import EvidenceBuilder, is_held_out
from evofuse.evolution.pii import default_scrubber
from evofuse.store import OutcomeRow, SkillRow, SkillVersionRow, Store, utcnow
from evofuse.store.feedback import FeedbackRow
from evofuse.store.runs import RunRow
from tests.support.databases import database_url  # noqa: F401

_ids = itertools.count()
NOW = utcnow()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:  # noqa: F811
    store = Store(database_url)
    with store.session() as session:
        skill = SkillRow(name="sql-review", scope="global", active_version=1)
        session.add(skill)
        session.flush()
        session.add(
            SkillVersionRow(
                skill_id=skill.id or 0,
                version=1,
                content_hash="h1",
                origin="seed",
                status="active",
                description="Review SQL.",
            )
        )
    yield store
    store.close()


def run(
    store: Store,
    user: str,
    score: float | None,
    *,
    tenant: str = "acme",
    age_days: float = 0.0,
    status: str = "succeeded",
    comment: str | None = None,
    held_out: bool = False,
    task: str = "Review this query",
) -> str:
    while True:
        run_id = f"r{next(_ids)}"
        if is_held_out(run_id, 25.0) == held_out:
            break
    at = NOW - timedelta(days=age_days)
    with store.session() as session:
        session.add(
            RunRow(
                id=run_id,
                graph="g",
                tenant=tenant,
                user_hash=user,
                skill_name="sql-review",
                skill_version=1,
                skill_version_id=1,
                status=status,
                task=task,
                created_at=at,
            )
        )
        session.flush()
        if score is not None:
            session.add(
                OutcomeRow(
                    run_id=run_id,
                    skill_version_id=1,
                    skill_name="sql-review",
                    version=1,
                    tenant=tenant,
                    user_hash=user,
                    score=score,
                    source="judge",
                    created_at=at,
                )
            )
        if comment is not None:
            session.add(
                FeedbackRow(
                    run_id=run_id,
                    tenant=tenant,
                    user_hash=user,
                    score=score or 0.0,
                    comment=comment,
                )
            )
    return run_id


def build(store: Store, **settings: object) -> object:
    evolution = EvolutionSettings.model_validate({"holdout_percent": 25.0, **settings})
    return EvidenceBuilder(store, evolution, default_scrubber(), NOW).build()


def test_recent_outcomes_weigh_more_with_the_configured_half_life(store: Store) -> None:
    run(store, "u1", 1.0, age_days=0)
    run(store, "u2", 0.0, age_days=14)  # one half-life old: half the weight
    [skill] = build(store, half_life_days=14).skills  # type: ignore[attr-defined]
    assert skill.weighted_mean == pytest.approx(1.0 / 1.5, abs=1e-3)
    assert sorted(round(i.weight, 3) for i in skill.runs.values()) == [0.5, 1.0]


def test_one_user_with_many_runs_counts_once_and_a_tenant_counts_once_unless_trusted(
    store: Store,
) -> None:
    for _ in range(30):
        run(store, "loud", 0.0, comment="bad")
    run(store, "a", 0.1, tenant="bigco")
    run(store, "b", 0.1, tenant="bigco")
    run(store, "c", 0.1, tenant="acme")
    run(store, "", 0.1, tenant="anon-co")
    run(store, "", 0.1, tenant="anon-co")  # anonymous users of a tenant are one supporter

    [skill] = build(store).skills  # type: ignore[attr-defined]
    assert len(skill.supporters) == 3  # a global skill: acme, bigco and anon-co
    [trusted] = build(store, trusted_user_ids=["acme", "bigco"]).skills  # type: ignore[attr-defined]
    assert len(trusted.supporters) == 5  # loud, a, b, c and the anonymous users of anon-co
    assert sum(1 for i in trusted.items if i.supporter == "loud") == 3  # capped in the prompt


def test_failed_runs_and_comments_are_evidence_and_comments_are_scrubbed(store: Store) -> None:
    run(store, "u1", None, status="failed")
    run(store, "u2", 0.9, comment="Great, thanks! Reach me at ana@example.org")

    [skill] = build(store).skills  # type: ignore[attr-defined]

    assert skill.failures == 1 and len(skill.supporters) == 1
    [commented] = [i for i in skill.items if i.comment]
    assert commented.comment == "Great, thanks! Reach me at <EMAIL_ADDRESS>"
    assert commented.raw_comment == "Great, thanks! Reach me at ana@example.org"
    assert "ana@example.org" not in str(commented.public())


def test_held_out_runs_are_never_evidence_and_are_the_replay_tasks(store: Store) -> None:
    shown = run(store, "u1", 0.1, task="shown task")
    hidden = run(store, "u2", 0.1, held_out=True, task="held-out task by ana@example.org")

    [skill] = build(store, replay_tasks=5).skills  # type: ignore[attr-defined]

    assert set(skill.runs) == {shown}
    assert [t.run_id for t in skill.held_out] == [hidden]
    assert skill.held_out[0].text == "held-out task by <EMAIL_ADDRESS>"


def test_the_held_out_share_is_stable_and_close_to_the_setting() -> None:
    ids = [f"run-{i}" for i in range(10_000)]
    share = sum(is_held_out(i, 25.0) for i in ids) / len(ids)
    assert 0.23 < share < 0.27
    assert [is_held_out(i, 25.0) for i in ids[:50]] == [is_held_out(i, 25.0) for i in ids[:50]]

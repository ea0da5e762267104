"""Support that one client cannot forge: tenants for a global skill, users for a tenant's own,
and a cap on how much one API key contributes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta

import pytest
from pydantic import ValidationError

from evofuse.config.models import EvolutionSettings
from evofuse.evolution.evidence import Evidence, EvidenceBuilder, SkillEvidence, is_held_out
from evofuse.evolution.pii import default_scrubber
from evofuse.evolution.support import Origin, SupportRules
from evofuse.store import OutcomeRow, SkillRow, SkillVersionRow, Store, utcnow
from evofuse.store.runs import RunRow
from tests.support.databases import database_url  # noqa: F401

_ids = itertools.count()
NOW = utcnow()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:  # noqa: F811
    """A global `sql-review` (version id 1) and acme's own `sql-review` (version id 2)."""
    store = Store(database_url)
    with store.session() as session:
        for scope, tenant in (("global", ""), ("tenant", "acme")):
            skill = SkillRow(name="sql-review", scope=scope, tenant=tenant, active_version=1)
            session.add(skill)
            session.flush()
            session.add(
                SkillVersionRow(
                    skill_id=skill.id or 0,
                    version=1,
                    content_hash=f"h-{scope}",
                    origin="seed",
                    status="active",
                    description="Review SQL.",
                )
            )
            session.flush()
    yield store
    store.close()


def run(
    store: Store,
    user: str,
    *,
    tenant: str,
    key: str | None = None,
    version_id: int = 1,
    score: float = 0.1,
    age_hours: float = 1.0,
) -> str:
    while True:
        run_id = f"s{next(_ids)}"
        if not is_held_out(run_id, 25.0):
            break
    at = NOW - timedelta(hours=age_hours)
    with store.session() as session:
        session.add(
            RunRow(
                id=run_id,
                graph="g",
                tenant=tenant,
                user_hash=user,
                skill_name="sql-review",
                skill_version=1,
                skill_version_id=version_id,
                api_key_id=key,
                status="succeeded",
                task="Review this query",
                created_at=at,
            )
        )
        session.flush()
        session.add(
            OutcomeRow(
                run_id=run_id,
                skill_version_id=version_id,
                skill_name="sql-review",
                version=1,
                tenant=tenant,
                user_hash=user,
                score=score,
                source="judge",
                created_at=at,
            )
        )
    return run_id


def build(store: Store, **settings: object) -> Evidence:
    evolution = EvolutionSettings.model_validate({"holdout_percent": 25.0, **settings})
    return EvidenceBuilder(store, evolution, default_scrubber(), NOW).build()


def skill_of(evidence: Evidence, scope: str) -> SkillEvidence:
    return next(s for s in evidence.skills if s.scope == scope)


def test_one_key_posing_as_many_users_is_one_supporter_of_a_global_skill(store: Store) -> None:
    for i in range(10):
        run(store, f"px{i}", tenant="evil", key="key_evil")
    run(store, "a", tenant="globex", key="key_g")
    run(store, "", tenant="initech")  # anonymous, from the CLI
    run(store, "", tenant="initech")

    skill = skill_of(build(store), "global")

    assert len(skill.runs) == 13
    assert len(skill.supporters) == 3  # evil, globex, initech
    assert all(s.startswith("t") and "evil" not in s for s in skill.supporters)  # pseudonyms


def test_many_keys_of_one_tenant_are_one_supporter_of_a_global_skill(store: Store) -> None:
    for i in range(6):
        run(store, f"user{i}", tenant="evil", key=f"key_{i}")

    assert len(skill_of(build(store), "global").supporters) == 1


def test_a_trusted_tenant_vouches_for_its_user_ids(store: Store) -> None:
    for user in ("ana", "bo", "cy"):
        run(store, user, tenant="bigco", key="key_backend")
    run(store, "dee", tenant="smallco")

    plain = skill_of(build(store), "global")
    trusted = skill_of(build(store, trusted_user_ids=["bigco"]), "global")

    assert len(plain.supporters) == 2
    assert len(trusted.supporters) == 4


def test_a_tenant_skill_counts_the_users_of_that_tenant(store: Store) -> None:
    for user in ("ana", "bo", "cy"):
        run(store, user, tenant="acme", key="key_acme", version_id=2)

    evidence = build(store)

    assert len(skill_of(evidence, "tenant").supporters) == 3
    assert skill_of(evidence, "global").runs == {}  # credit never crosses scopes


def test_one_key_contributes_at_most_max_runs_per_key_runs_its_newest(store: Store) -> None:
    old = [run(store, "flood", tenant="evil", key="key_evil", age_hours=100 + i) for i in range(5)]
    new = [run(store, "flood", tenant="evil", key="key_evil", age_hours=i) for i in range(5)]
    other = run(store, "b", tenant="globex", key="key_g", age_hours=200)

    skill = skill_of(build(store, max_runs_per_key=5), "global")

    assert set(skill.runs) == {*new, other}
    assert skill.capped == 5 and not set(old) & set(skill.runs)
    assert skill.outcomes == 6


def test_the_breakdown_says_who_is_behind_by_tenant_key_and_user() -> None:
    rules = SupportRules(EvolutionSettings(trusted_user_ids=["bigco"]))
    origins = [
        *(Origin("evil", f"px{i}", "key_evil") for i in range(3)),
        Origin("evil", "px9", "key_evil2"),
        Origin("bigco", "ana", "key_b"),
        Origin("bigco", "bo", "key_b"),
        Origin("globex", "", None),
    ]

    support = rules.breakdown("global", origins)

    assert (support.distinct, support.tenants, support.keys, support.users) == (4, 3, 4, 7)
    assert support.counted_as == "tenants (users of trusted tenants)"
    evil = next(t for t in support.by_tenant if t.tenant == "evil")
    assert (evil.keys, evil.users, evil.items, evil.users_count_apart) == (2, 4, 4, False)
    assert [(k.key, k.users) for k in support.by_key if k.tenant == "globex"] == [("(no key)", 1)]
    assert rules.breakdown("tenant", origins[:4]).distinct == 4  # a tenant's own skill


def test_the_retired_count_tenant_once_key_says_what_to_use_instead() -> None:
    with pytest.raises(ValidationError, match=r"evolution\.trusted_user_ids"):
        EvolutionSettings.model_validate({"count_tenant_once": ["bigco"]})
    assert EvolutionSettings().max_runs_per_key == 100


def test_one_key_fills_at_most_max_runs_per_key_places_of_the_no_skill_pool(store: Store) -> None:
    with store.session() as session:
        for i in range(12):
            key, tenant = ("key_evil", "evil") if i < 9 else (f"key_{i}", f"org-{i}")
            session.add(
                RunRow(
                    id=f"pool{next(_ids)}",
                    graph="g",
                    tenant=tenant,
                    user_hash=f"u{i}",
                    api_key_id=key,
                    status="succeeded",
                    task=f"Write a haiku about autumn, take {i}",
                    created_at=NOW - timedelta(minutes=i),
                )
            )

    evidence = build(store, max_runs_per_key=3)

    tasks = [*evidence.pool, *evidence.pool_held_out]
    assert len(tasks) == 3 + 3
    assert sum(t.raw.endswith(tuple(f"take {i}" for i in range(9))) for t in tasks) == 3

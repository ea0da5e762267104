"""`privacy.share_with_global: false`: a tenant's runs and feedback never become evidence for a
global skill, held-out replay tasks or the Extractor's pool; its own skills still learn from it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlmodel import col, select

from evofuse.config.governance import PrivacySettings
from evofuse.config.models import EvolutionSettings
from evofuse.evolution.evidence import Evidence, EvidenceBuilder, is_held_out
from evofuse.evolution.pii import default_scrubber
from evofuse.store import OutcomeRow, SkillRow, SkillVersionRow, Store, utcnow
from evofuse.store.feedback import FeedbackRow
from evofuse.store.runs import RunRow
from tests.support.databases import database_url  # noqa: F401

_ids = itertools.count()
HOLDOUT = 25.0


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:  # noqa: F811
    store = Store(database_url)
    with store.session() as session:
        for scope, tenant in (("global", ""), ("tenant", "secretive")):
            skill = SkillRow(name="sql-review", scope=scope, tenant=tenant, active_version=1)
            session.add(skill)
            session.flush()
            assert skill.id is not None
            session.add(
                SkillVersionRow(
                    skill_id=skill.id,
                    version=1,
                    content_hash=f"h-{scope}",
                    origin="seed",
                    status="active",
                    description="Review SQL.",
                )
            )
    yield store
    store.close()


def version_id(store: Store, scope: str) -> int:
    with store.session() as session:
        found = session.exec(
            select(SkillVersionRow.id)
            .join(SkillRow, col(SkillRow.id) == col(SkillVersionRow.skill_id))
            .where(col(SkillRow.scope) == scope)
        ).one()
        return int(found or 0)


def run(
    store: Store, tenant: str, user: str, *, scope: str | None, score: float, held_out: bool
) -> str:
    while True:
        run_id = f"p{next(_ids)}"
        if is_held_out(run_id, HOLDOUT) == held_out:
            break
    vid = version_id(store, scope) if scope else None
    with store.session() as session:
        session.add(
            RunRow(
                id=run_id,
                graph="g",
                tenant=tenant,
                user_hash=user,
                skill_name="sql-review" if scope else None,
                skill_version=1 if scope else None,
                skill_version_id=vid,
                status="succeeded",
                task=f"{tenant} task {run_id}",
            )
        )
        session.flush()
        if vid is not None:
            session.add(
                OutcomeRow(
                    run_id=run_id,
                    skill_version_id=vid,
                    skill_name="sql-review",
                    version=1,
                    tenant=tenant,
                    user_hash=user,
                    score=score,
                    source="judge",
                )
            )
            session.add(
                FeedbackRow(run_id=run_id, tenant=tenant, user_hash=user, score=score, comment="c")
            )
    return run_id


def build(store: Store, privacy: PrivacySettings) -> Evidence:
    settings = EvolutionSettings(holdout_percent=HOLDOUT)
    return EvidenceBuilder(store, settings, default_scrubber(), utcnow(), privacy).build()


def tenants_in(evidence: Evidence) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for skill in evidence.skills:
        seen = {i.run_id for i in skill.runs.values()} | {t.run_id for t in skill.held_out}
        out[skill.scope] = seen
    out["pool"] = {t.run_id for t in evidence.pool + evidence.pool_held_out}
    return out


@pytest.mark.parametrize(
    "privacy",
    [
        PrivacySettings.model_validate({"tenants": {"secretive": {"share_with_global": False}}}),
        # Sharing off by default, on for the tenants that opted in.
        PrivacySettings.model_validate(
            {"share_with_global": False, "tenants": {"open": {"share_with_global": True}}}
        ),
    ],
)
def test_a_tenant_that_does_not_share_teaches_only_its_own_skills(
    store: Store, privacy: PrivacySettings
) -> None:
    mine: dict[str, set[str]] = {"secretive": set(), "open": set()}
    for tenant in ("secretive", "open"):
        for i in range(4):
            for held in (False, True):
                user = f"{tenant}-u{i}"
                mine[tenant].add(run(store, tenant, user, scope="global", score=0.9, held_out=held))
                mine[tenant].add(run(store, tenant, user, scope=None, score=0.0, held_out=held))
    own = {
        run(store, "secretive", f"s{i}", scope="tenant", score=0.95, held_out=held)
        for i in range(3)
        for held in (False, True)
    }
    seen = tenants_in(build(store, privacy))
    assert seen["global"] and not seen["global"] & mine["secretive"]
    assert not seen["pool"] & (mine["secretive"] | own)  # high scorers of its own skill too
    assert seen["pool"] & mine["open"]
    assert own & seen["tenant"]  # its own skill still learns from its runs

    everyone = PrivacySettings()
    shared = tenants_in(build(store, everyone))
    assert shared["global"] & mine["secretive"] and shared["pool"] & mine["secretive"]

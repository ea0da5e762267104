"""Outcomes: how well one run with one skill version went. The Selector and evolution read them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, func, select

from evofuse.store.db import Store
from evofuse.store.skills import SkillRow, SkillVersionRow, timestamp


class OutcomeSource(StrEnum):
    JUDGE = "judge"  # the fusion judge's verdict on the run
    FEEDBACK = "feedback"  # the end user's rating (POST /v1/feedback)


class OutcomeRow(SQLModel, table=True):
    """One score in [0, 1] for one run of one skill version, by one (hashed) user."""

    __tablename__ = "outcomes"
    __table_args__ = (
        CheckConstraint("score >= 0 AND score <= 1", name="ck_outcomes_score"),
        CheckConstraint("source IN ('judge', 'feedback')", name="ck_outcomes_source"),
        # The Selector aggregates per version, split by tenant and user.
        Index("ix_outcomes_version_tenant_user", "skill_version_id", "tenant", "user_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(sa_type=String(64), index=True)
    skill_version_id: int = Field(foreign_key="skill_versions.id")
    skill_name: str = Field(sa_type=String(64))  # denormalised for reports and evolution
    version: int
    tenant: str = Field(default="", sa_type=String(128))
    user_hash: str = Field(sa_type=String(64))  # pseudonym (HMAC), never the raw user id
    score: float
    source: str = Field(sa_type=String(16))
    created_at: datetime = timestamp()


def record_outcome(
    session: Session,
    *,
    run_id: str,
    skill_version_id: int,
    skill_name: str,
    version: int,
    tenant: str,
    user_hash: str,
    score: float,
    source: OutcomeSource | str,
) -> OutcomeRow:
    """Add one outcome row; `user_hash` is the pseudonym from `evofuse.identity.UserHasher`."""
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"score must be in [0, 1], got {score}")
    row = OutcomeRow(
        run_id=run_id,
        skill_version_id=skill_version_id,
        skill_name=skill_name,
        version=version,
        tenant=tenant,
        user_hash=user_hash,
        score=score,
        source=OutcomeSource(source).value,
    )
    session.add(row)
    return row


def success_per_skill(
    store: Store, *, tenant: str, since: datetime
) -> dict[tuple[str, str, str], tuple[int, float]]:
    """(name, scope, skill tenant) -> (outcomes, mean score) of `tenant`'s outcomes since `since`.

    Aggregated in SQL: the dashboard's skill list must not read every outcome row.
    """
    query = (
        sa_select(  # five columns: more than sqlmodel's typed select() takes
            col(SkillRow.name),
            col(SkillRow.scope),
            col(SkillRow.tenant),
            func.count(),
            func.avg(col(OutcomeRow.score)),
        )
        .select_from(OutcomeRow)
        .join(SkillVersionRow, col(SkillVersionRow.id) == col(OutcomeRow.skill_version_id))
        .join(SkillRow, col(SkillRow.id) == col(SkillVersionRow.skill_id))
        .where(col(OutcomeRow.tenant) == tenant, col(OutcomeRow.created_at) >= since)
        .group_by(col(SkillRow.name), col(SkillRow.scope), col(SkillRow.tenant))
    )
    with store.session() as session:
        rows = session.execute(query).all()
        return {(n, s, t): (int(c), float(m)) for n, s, t, c, m in rows}


def daily_success(
    store: Store, version_ids: Sequence[int], *, tenant: str
) -> list[tuple[int, str, int, float]]:
    """(version row id, day 'YYYY-MM-DD' in UTC, outcomes, mean score) of `tenant`'s outcomes,
    oldest day first: each version's success over time."""
    if not version_ids:
        return []
    day = func.date(col(OutcomeRow.created_at))
    query = (
        select(col(OutcomeRow.skill_version_id), day, func.count(), func.avg(col(OutcomeRow.score)))
        .where(col(OutcomeRow.skill_version_id).in_(version_ids), col(OutcomeRow.tenant) == tenant)
        .group_by(col(OutcomeRow.skill_version_id), day)
        .order_by(day)
    )
    with store.session() as session:
        # SQLite's date() is a string, PostgreSQL's a date: both print as YYYY-MM-DD.
        return [(int(v), str(d)[:10], int(n), float(m)) for v, d, n, m in session.exec(query)]

"""Outcomes: how well one run with one skill version went. The Selector and evolution read them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String
from sqlmodel import Field, Session, SQLModel

from evofuse.store.skills import timestamp


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

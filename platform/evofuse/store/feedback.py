"""User feedback on runs: one rating per (run, user), replaced rather than stacked.

A rating of a run that used a skill also becomes an outcome of that skill version, which the
Selector and evolution read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel, col, select

from evofuse.errors import RunNotFoundError
from evofuse.store.db import Store
from evofuse.store.outcomes import OutcomeRow, OutcomeSource
from evofuse.store.runs import RunRow
from evofuse.store.skills import utcnow


class FeedbackRow(SQLModel, table=True):
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("run_id", "user_hash", name="uq_feedback_run_user"),
        CheckConstraint("score >= 0 AND score <= 1", name="ck_feedback_score"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(sa_type=String(64), foreign_key="runs.id", index=True)
    tenant: str = Field(default="", sa_type=String(128))
    user_hash: str = Field(default="", sa_type=String(64))
    score: float
    comment: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


def record_feedback(
    store: Store,
    *,
    run_id: str,
    score: float,
    comment: str | None = None,
    tenant: str | None = None,
    user_hash: str | None = None,
) -> FeedbackRow:
    """Store a rating in [0, 1] for a run; only the run's tenant may rate it.

    `user_hash` defaults to the run's own (hashed) user. Rating the same run again replaces
    the earlier rating of that user.
    """
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"score must be between 0 and 1, got {score}")
    with store.session() as session:
        run = session.get(RunRow, run_id)
        if run is None or (tenant is not None and run.tenant != tenant):
            raise RunNotFoundError(run_id)
        rater = user_hash if user_hash is not None else run.user_hash
        row = session.exec(
            select(FeedbackRow).where(FeedbackRow.run_id == run_id, FeedbackRow.user_hash == rater)
        ).first() or FeedbackRow(run_id=run_id, tenant=run.tenant, user_hash=rater, score=score)
        row.score, row.comment, row.created_at = score, comment, utcnow()
        session.add(row)
        if run.skill_version_id is not None:
            _upsert_outcome(session, run, rater, score)
        session.flush()
        return row


def feedback_for_run(store: Store, run_id: str, *, tenant: str) -> list[FeedbackRow]:
    """The ratings of one of `tenant`'s runs, oldest first (another tenant's run has none)."""
    with store.session() as session:
        return list(
            session.exec(
                select(FeedbackRow)
                .where(FeedbackRow.run_id == run_id, FeedbackRow.tenant == tenant)
                .order_by(col(FeedbackRow.created_at))
            ).all()
        )


def _upsert_outcome(session: object, run: RunRow, rater: str, score: float) -> None:
    from sqlmodel import Session

    assert isinstance(session, Session)
    assert run.skill_version_id is not None
    assert run.skill_name is not None and run.skill_version is not None
    existing = session.exec(
        select(OutcomeRow).where(
            OutcomeRow.run_id == run.id,
            OutcomeRow.user_hash == rater,
            OutcomeRow.source == OutcomeSource.FEEDBACK.value,
        )
    ).first()
    if existing is not None:
        existing.score, existing.created_at = score, utcnow()
        session.add(existing)
        return
    session.add(
        OutcomeRow(
            run_id=run.id,
            skill_version_id=run.skill_version_id,
            skill_name=run.skill_name,
            version=run.skill_version,
            tenant=run.tenant,
            user_hash=rater,
            score=score,
            source=OutcomeSource.FEEDBACK.value,
        )
    )

"""Which runs backed each version that evolution published: the version's *support*.

Written with the version, in the same transaction, from the evidence the proposal cited. Forgetting
a user removes their rows here and re-counts the distinct supporters that remain.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Index, String
from sqlmodel import Field, Session, SQLModel, col, select

from evofuse.store.runs import RunRow


class SupportRow(SQLModel, table=True):
    __tablename__ = "skill_version_support"
    __table_args__ = (Index("ix_skill_version_support_user", "tenant", "user_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="skill_versions.id", index=True)
    run_id: str = Field(sa_type=String(64), index=True)
    tenant: str = Field(default="", sa_type=String(128))
    user_hash: str = Field(default="", sa_type=String(64))
    # Who the gate counted: a user's pseudonym, or a tenant for tenants that count once.
    supporter: str = Field(sa_type=String(255))


def record_support(session: Session, version_id: int, backing: Sequence[tuple[str, str]]) -> None:
    """Store (run id, supporter) pairs as the support of a version, with each run's owner."""
    if not backing:
        return
    owners = {
        run_id: (tenant, user_hash)
        for run_id, tenant, user_hash in session.exec(
            select(RunRow.id, RunRow.tenant, RunRow.user_hash).where(
                col(RunRow.id).in_([run_id for run_id, _ in backing])
            )
        ).all()
    }
    for run_id, supporter in dict(backing).items():
        tenant, user_hash = owners.get(run_id, ("", ""))
        session.add(
            SupportRow(
                version_id=version_id,
                run_id=run_id,
                tenant=tenant,
                user_hash=user_hash,
                supporter=supporter,
            )
        )

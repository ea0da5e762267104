"""Evolution's tables: cycle reports, the lease that keeps cycles one at a time, and canaries.

The lease is one row per lease name. It is taken and renewed only by single conditional
statements (an INSERT that a primary key refuses, an UPDATE whose WHERE clause re-checks the
holder and the expiry), which makes taking it atomic on SQLite (one writer at a time) and on
PostgreSQL (a concurrent UPDATE waits for the row lock, then re-evaluates its WHERE clause).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Column, DateTime, Index, String, Text
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from evofuse.errors import CycleNotFoundError, LeaseHeldError
from evofuse.store.db import Store
from evofuse.store.processes import local_owner_alive
from evofuse.store.skills import SkillRow, utcnow

CYCLE_LEASE = "evolution-cycle"


def _ts(nullable: bool = False) -> Any:
    return Column(DateTime(timezone=True), nullable=nullable)


def aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


class CycleStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"  # every eligible skill was considered
    STOPPED = "stopped"  # ended early and cleanly (the cycle's cost budget ran out)
    FAILED = "failed"  # an unexpected error; the report says which


class EvolutionRunRow(SQLModel, table=True):
    """One evolution cycle and its report (evidence, proposals, gate results, actions, cost)."""

    __tablename__ = "evolution_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'finished', 'stopped', 'failed')", name="ck_evolution_status"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=CycleStatus.RUNNING.value, sa_type=String(16))
    trigger: str = Field(default="cli", sa_type=String(16))  # cli | scheduler | api | demo
    dry_run: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    holder: str = Field(default="", sa_type=String(255))
    cost_usd: float | None = None
    summary: str = Field(default="", sa_type=Text)
    error: str | None = Field(default=None, sa_type=Text)
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class LeaseRow(SQLModel, table=True):
    """Who runs the evolution cycle right now, and until when their claim holds."""

    __tablename__ = "evolution_leases"

    name: str = Field(sa_type=String(64), primary_key=True)
    holder: str = Field(sa_type=String(255))
    cycle_id: int | None = None
    acquired_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())


class CanaryKind(StrEnum):
    CANARY = "canary"  # a new version of an existing skill, served to a share of users
    WATCH = "watch"  # a new skill, served to everyone, retired if it does worse than baseline


class CanaryStatus(StrEnum):
    OPEN = "open"
    PROMOTED = "promoted"  # became the default version (or, for a new skill, stays)
    ROLLED_BACK = "rolled_back"  # did worse live, or never proved itself in time
    SUPERSEDED = "superseded"  # someone changed the active version meanwhile


class CanaryRow(SQLModel, table=True):
    """A version published by evolution while its live success is being watched."""

    __tablename__ = "evolution_canaries"
    __table_args__ = (Index("ix_evolution_canaries_status", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    skill_id: int = Field(foreign_key="skills.id")
    skill_name: str = Field(sa_type=String(64))
    version_id: int = Field(foreign_key="skill_versions.id", unique=True)
    version: int
    baseline_version_id: int | None = None  # the active version it is compared with
    baseline_mean: float | None = None  # recency-weighted mean score when it was published
    kind: str = Field(default=CanaryKind.CANARY.value, sa_type=String(16))
    percent: float = 100.0  # share of users (0-100) served this version while open
    status: str = Field(default=CanaryStatus.OPEN.value, sa_type=String(16))
    cycle_id: int | None = None
    reason: str | None = Field(default=None, sa_type=Text)
    started_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    decided_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


# -- the lease -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    expires_at: datetime


def acquire_lease(store: Store, holder: str, ttl: timedelta, name: str = CYCLE_LEASE) -> Lease:
    """Take the lease, or raise `LeaseHeldError` naming who has it.

    A lease held by a process of this host that no longer exists is taken over at once; the
    TTL only decides for holders on other hosts, whose processes nobody here can see.
    """
    now = utcnow()
    expires = now + ttl
    try:
        with store.session() as session:
            session.add(LeaseRow(name=name, holder=holder, acquired_at=now, expires_at=expires))
        return Lease(name, holder, expires)
    except IntegrityError:
        pass  # the row exists: take it over only if it expired, is ours, or its holder died
    table = LeaseRow.__table__  # type: ignore[attr-defined]
    with store.session() as session:
        claimable = (table.c.expires_at < now) | (table.c.holder == holder)
        current = session.get(LeaseRow, name)
        if current is not None and local_owner_alive(current.holder) is False:
            # Matching on the dead holder's name keeps the take-over atomic: of two processes
            # racing for it, only the first UPDATE still finds that holder.
            claimable = claimable | (table.c.holder == current.holder)
        taken = session.connection().execute(
            sa_update(table)
            .where(table.c.name == name, claimable)
            .values(holder=holder, acquired_at=now, expires_at=expires, cycle_id=None)
        )
        if taken.rowcount == 1:
            return Lease(name, holder, expires)
        session.expire_all()  # read who holds it now, not the row loaded above
        row = session.get(LeaseRow, name)
        assert row is not None  # leases are never deleted, only handed over
        raise LeaseHeldError(
            row.holder, row.cycle_id, aware(row.acquired_at), aware(row.expires_at)
        )


def renew_lease(store: Store, lease: Lease, ttl: timedelta, cycle_id: int | None = None) -> bool:
    """Extend our claim; False means it expired and someone else took it (stop working)."""
    table = LeaseRow.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {"expires_at": utcnow() + ttl}
    if cycle_id is not None:
        values["cycle_id"] = cycle_id
    with store.session() as session:
        result = session.connection().execute(
            sa_update(table)
            .where(table.c.name == lease.name, table.c.holder == lease.holder)
            .values(**values)
        )
        return bool(result.rowcount == 1)


def release_lease(store: Store, lease: Lease) -> None:
    """Let the next cycle start now (expiring the row keeps who held it last for reports)."""
    table = LeaseRow.__table__  # type: ignore[attr-defined]
    with store.session() as session:
        session.connection().execute(
            sa_update(table)
            .where(table.c.name == lease.name, table.c.holder == lease.holder)
            .values(expires_at=utcnow())
        )


# -- cycle reports -------------------------------------------------------------------------


def start_cycle(store: Store, *, trigger: str, dry_run: bool, holder: str) -> int:
    with store.session() as session:
        row = EvolutionRunRow(trigger=trigger, dry_run=dry_run, holder=holder)
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def save_cycle(
    store: Store,
    cycle_id: int,
    *,
    status: str,
    report: dict[str, Any],
    summary: str,
    cost_usd: float | None,
    error: str | None = None,
    finished: bool = True,
) -> None:
    """Store the report so far (also mid-cycle, so a crash leaves the partial report behind)."""
    with store.session() as session:
        row = session.get(EvolutionRunRow, cycle_id)
        if row is None:
            raise CycleNotFoundError(f"No evolution run {cycle_id}.")
        row.status = CycleStatus(status).value
        row.report = report
        row.summary = summary
        row.cost_usd = cost_usd
        row.error = error
        if finished:
            row.finished_at = utcnow()
        session.add(row)


def load_cycle(store: Store, cycle_id: int) -> EvolutionRunRow:
    with store.session() as session:
        row = session.get(EvolutionRunRow, cycle_id)
        if row is None:
            raise CycleNotFoundError(
                f"No evolution run {cycle_id}.",
                hint="List them with `evofuse evolve list` (or GET /v1/evolution/runs).",
            )
        return row


def list_cycle_rows(store: Store, *, limit: int = 20) -> list[EvolutionRunRow]:
    """Newest first."""
    with store.session() as session:
        return list(
            session.exec(
                select(EvolutionRunRow).order_by(col(EvolutionRunRow.id).desc()).limit(limit)
            ).all()
        )


# -- canaries ------------------------------------------------------------------------------


def canary_bucket(key: str, version_id: int) -> float:
    """A user's stable position in [0, 100) for one version: the same user stays in or out."""
    digest = hashlib.sha256(f"{version_id}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100.0


def canary_percents(session: Session, version_ids: list[int]) -> dict[int, float]:
    """version id -> share of users (0-100) for the versions in an open canary."""
    if not version_ids:
        return {}
    rows = session.exec(
        select(CanaryRow.version_id, CanaryRow.percent).where(
            col(CanaryRow.version_id).in_(version_ids),
            col(CanaryRow.status) == CanaryStatus.OPEN.value,
            col(CanaryRow.kind) == CanaryKind.CANARY.value,
        )
    ).all()
    return {int(v): float(p) for v, p in rows}


def open_canaries(session: Session) -> list[CanaryRow]:
    return list(
        session.exec(
            select(CanaryRow)
            .where(col(CanaryRow.status) == CanaryStatus.OPEN.value)
            .order_by(col(CanaryRow.id))
        ).all()
    )


def canaries_of(store: Store, version_ids: list[int]) -> list[CanaryRow]:
    """Every canary or watch (open or decided) of these version rows, oldest first."""
    if not version_ids:
        return []
    with store.session() as session:
        return list(
            session.exec(
                select(CanaryRow)
                .where(col(CanaryRow.version_id).in_(version_ids))
                .order_by(col(CanaryRow.id))
            ).all()
        )


def open_canaries_by_skill(store: Store) -> dict[tuple[str, str, str], CanaryRow]:
    """(name, scope, skill tenant) -> the skill's open canary or watch (the newest, if several)."""
    query = (
        select(CanaryRow, SkillRow.scope, SkillRow.tenant)
        .join(SkillRow, col(SkillRow.id) == col(CanaryRow.skill_id))
        .where(col(CanaryRow.status) == CanaryStatus.OPEN.value)
        .order_by(col(CanaryRow.id))
    )
    with store.session() as session:
        return {(row.skill_name, scope, tenant): row for row, scope, tenant in session.exec(query)}

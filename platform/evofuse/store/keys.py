"""API keys: a tenant's credentials, each with its own rate limit and daily budget.

A key is shown once, when it is created; only its SHA-256 is stored. The secret carries 256
random bits, so a fast hash is as safe as a slow one here and costs microseconds per request.

The limit counters live on the key's own row and change only through single conditional
UPDATE statements. That makes admission atomic on SQLite (one writer at a time) and on
PostgreSQL (a concurrent UPDATE waits for the row lock, then re-checks its WHERE clause
against the new values), across workers and replicas alike.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    String,
    Table,
    case,
    or_,
    update,
)
from sqlmodel import Field, SQLModel, col, select

from evofuse.errors import UserError
from evofuse.store.db import Store
from evofuse.store.skills import utcnow

KEY_PREFIX = "efk-"
_HINT_CHARS = 8  # of the secret after the prefix: enough to tell your keys apart in a list


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("rpm IS NULL OR rpm > 0", name="ck_api_keys_rpm"),
        CheckConstraint(
            "daily_budget_usd IS NULL OR daily_budget_usd > 0", name="ck_api_keys_budget"
        ),
    )

    id: str = Field(sa_type=String(32), primary_key=True)  # public: "key_…", for list/revoke
    tenant: str = Field(sa_type=String(128), index=True)
    name: str | None = Field(default=None, sa_type=String(128))
    key_hash: str = Field(sa_type=String(64), unique=True)
    hint: str = Field(sa_type=String(32))  # the secret's first characters, to recognise it
    rpm: int | None = None  # requests per minute; None = unlimited
    daily_budget_usd: float | None = None  # USD per UTC day; None = unlimited
    # An admin acts for its own tenant (forget users, audit log, its skills); an operator (always
    # an admin too) also for other tenants, and runs evolution and rolls back global skills.
    admin: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    operator: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # Counters. A fixed one-minute window for the rate limit, a UTC day for the budget; both
    # are numbered from the epoch, and a counter of an older window reads as zero.
    rate_window: int = 0
    rate_count: int = 0
    budget_day: int = 0
    spent_usd: float = 0.0
    reserved_usd: float = 0.0  # worst-case cost of requests admitted but not yet finished


_TABLE: Table = ApiKeyRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NewKey:
    row: ApiKeyRow
    secret: str  # the only time the key exists in clear


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    store: Store,
    *,
    tenant: str,
    name: str | None = None,
    rpm: int | None = None,
    daily_budget_usd: float | None = None,
    admin: bool = False,
    operator: bool = False,
) -> NewKey:
    """Create a key for `tenant`; the secret is returned once and never stored.

    `admin` acts for its own tenant; `operator` (which implies admin) for every tenant."""
    if not tenant.strip():
        raise UserError("A key needs a tenant.", hint="Pass --tenant NAME, e.g. --tenant acme.")
    if rpm is not None and rpm < 1:
        raise UserError(f"rpm must be at least 1, got {rpm}.", hint="Omit it for no limit.")
    if daily_budget_usd is not None and daily_budget_usd <= 0:
        raise UserError(
            f"daily budget must be more than 0, got {daily_budget_usd}.",
            hint="Omit it for no limit.",
        )
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        id="key_" + secrets.token_hex(6),
        tenant=tenant.strip(),
        name=name,
        key_hash=hash_key(secret),
        hint=secret[: len(KEY_PREFIX) + _HINT_CHARS],
        rpm=rpm,
        daily_budget_usd=daily_budget_usd,
        admin=admin or operator,
        operator=operator,
    )
    with store.session() as session:
        session.add(row)
    return NewKey(row=row, secret=secret)


def find_key(store: Store, secret: str) -> ApiKeyRow | None:
    """The live (not revoked) key with this secret, or None."""
    with store.session() as session:
        return session.exec(
            select(ApiKeyRow).where(
                col(ApiKeyRow.key_hash) == hash_key(secret), col(ApiKeyRow.revoked_at).is_(None)
            )
        ).first()


def get_key(store: Store, key_id: str) -> ApiKeyRow | None:
    with store.session() as session:
        return session.get(ApiKeyRow, key_id)


def list_keys(store: Store, *, tenant: str | None = None) -> list[ApiKeyRow]:
    query = select(ApiKeyRow).order_by(col(ApiKeyRow.tenant), col(ApiKeyRow.created_at))
    if tenant is not None:
        query = query.where(col(ApiKeyRow.tenant) == tenant)
    with store.session() as session:
        return list(session.exec(query).all())


def revoke_key(store: Store, key_id: str) -> ApiKeyRow:
    """Revoke a key at once; revoking twice is not an error."""
    with store.session() as session:
        row = session.get(ApiKeyRow, key_id)
        if row is None:
            raise UserError(f"No API key with id {key_id!r}.", hint="See `evofuse keys list`.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)
        return row


def admit(store: Store, key_id: str, *, minute: int, day: int, reserve_usd: float) -> bool:
    """Count one request and reserve `reserve_usd` of today's budget, if both limits allow.

    A request is admitted while the key is under its rate limit and has some budget left
    (spent plus reserved below the budget). Each admitted request reserves its worst-case
    cost, so concurrent requests at the edge overshoot the budget by at most one request.
    """
    t = _TABLE.c
    same_minute = t.rate_window == minute
    same_day = t.budget_day == day
    used_requests = case((same_minute, t.rate_count), else_=0)
    committed_usd = case((same_day, t.spent_usd + t.reserved_usd), else_=0.0)
    stmt = (
        update(_TABLE)
        .where(
            t.id == key_id,
            t.revoked_at.is_(None),
            or_(t.rpm.is_(None), used_requests < t.rpm),
            or_(t.daily_budget_usd.is_(None), committed_usd < t.daily_budget_usd),
        )
        .values(
            rate_count=used_requests + 1,
            rate_window=minute,
            spent_usd=case((same_day, t.spent_usd), else_=0.0),
            reserved_usd=case((same_day, t.reserved_usd), else_=0.0) + reserve_usd,
            budget_day=day,
        )
    )
    with store.engine.begin() as connection:
        return connection.execute(stmt).rowcount == 1


def settle(
    store: Store,
    key_id: str,
    *,
    reserved_day: int,
    today: int,
    reserved_usd: float,
    spent_usd: float,
) -> None:
    """Release a request's reservation and charge what it really cost.

    A request that ran over midnight is charged to the new day; its reservation was dropped
    with the old day's counters.
    """
    t = _TABLE.c
    current = t.budget_day == today
    if reserved_day == today:
        reserved = case(
            (current & (t.reserved_usd > reserved_usd), t.reserved_usd - reserved_usd),
            else_=0.0,
        )
    else:
        reserved = case((current, t.reserved_usd), else_=0.0)
    stmt = (
        update(_TABLE)
        .where(t.id == key_id)
        .values(
            reserved_usd=reserved,
            spent_usd=case((current, t.spent_usd), else_=0.0) + spent_usd,
            budget_day=today,
        )
    )
    with store.engine.begin() as connection:
        connection.execute(stmt)

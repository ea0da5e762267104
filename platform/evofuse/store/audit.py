"""The audit log: who did what administrative thing, when (rollback, keys, forget, evolution).

Rows are only ever added (retention does not touch them). An entry names the actor (an API key
id, or `cli` for someone at the server's shell), the tenant acted for, the action, its target
and a small JSON detail. It never holds an end user's id or pseudonym.
"""

from __future__ import annotations

import getpass
import socket
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, String
from sqlmodel import Field, SQLModel, col, select

from evofuse.store.db import Store
from evofuse.store.skills import timestamp


class AuditAction(StrEnum):
    SKILL_ROLLBACK = "skill.rollback"
    SKILL_RETIRE = "skill.retire"  # a version retired because a forget took its support away
    SKILL_REVIEW = "skill.review"  # a long-serving version that lost support: for a person
    KEY_CREATE = "key.create"
    KEY_REVOKE = "key.revoke"
    USER_FORGET = "user.forget"
    EVOLUTION_TRIGGER = "evolution.trigger"
    RETENTION_RUN = "retention.run"


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = timestamp()
    actor: str = Field(sa_type=String(255))  # key_… or cli:<user>@<host>
    tenant: str = Field(default="", sa_type=String(128), index=True)
    action: str = Field(sa_type=String(32))
    target: str = Field(default="", sa_type=String(255))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def cli_actor() -> str:
    """Who runs a CLI command: the OS user on this host (the CLI has no API key)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def record(
    store: Store,
    *,
    actor: str,
    action: AuditAction,
    tenant: str = "",
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditRow:
    row = AuditRow(
        actor=actor, tenant=tenant, action=action.value, target=target, detail=detail or {}
    )
    with store.session() as session:
        session.add(row)
    return row


def entries(
    store: Store,
    *,
    tenant: str | None = None,
    action: str | None = None,
    limit: int = 50,
) -> list[AuditRow]:
    """Newest first."""
    query = select(AuditRow).order_by(col(AuditRow.id).desc()).limit(limit)
    if tenant is not None:
        query = query.where(col(AuditRow.tenant) == tenant)
    if action is not None:
        query = query.where(col(AuditRow.action) == action)
    with store.session() as session:
        return list(session.exec(query).all())


def document(row: AuditRow) -> dict[str, Any]:
    from evofuse.store.evolution import aware

    return {
        "id": row.id,
        "at": aware(row.at).isoformat(),
        "actor": row.actor,
        "tenant": row.tenant,
        "action": row.action,
        "target": row.target,
        "detail": row.detail,
    }

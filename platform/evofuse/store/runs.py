"""Run records: a run, its fused steps, each step's candidates and the judge's verdict.

Runs are the raw material of evolution, so they are written as they happen: the run row before
the first model call, each step as soon as it finishes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, DateTime, Index, String, Text
from sqlmodel import Field, SQLModel

from evofuse.store.skills import utcnow


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the process died mid-run; found and marked at the next start


def _values(enum: type[StrEnum]) -> str:
    return ", ".join(f"'{m.value}'" for m in enum)


def _ts(nullable: bool = False) -> Any:
    return Column(DateTime(timezone=True), nullable=nullable)


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(RunStatus)})", name="ck_runs_status"),
        Index("ix_runs_tenant_created", "tenant", "created_at"),
        Index("ix_runs_status_owner", "status", "owner"),
        Index("ix_runs_skill_version", "skill_version_id"),
    )

    id: str = Field(sa_type=String(64), primary_key=True)
    graph: str = Field(sa_type=String(128))
    tenant: str = Field(default="", sa_type=String(128))
    user_hash: str = Field(default="", sa_type=String(64))
    thread_id: str | None = Field(default=None, sa_type=String(128))
    skill_name: str | None = Field(default=None, sa_type=String(64))
    skill_version: int | None = None
    # The exact version row the run used: name and number alone are ambiguous across scopes
    # (a global and a tenant's skill may both be `sql-review` v1). Credit goes by this id.
    skill_version_id: int | None = Field(default=None, foreign_key="skill_versions.id")
    # The authenticated API key that started the run (None from the CLI or with auth off);
    # set from the key the server verified, never from anything the client wrote.
    api_key_id: str | None = Field(default=None, sa_type=String(32))
    # The request's last user message: evolution clusters and replays tasks (scrubbed first).
    task: str | None = Field(default=None, sa_type=Text)
    status: str = Field(default=RunStatus.RUNNING.value, sa_type=String(16))
    error: str | None = Field(default=None, sa_type=Text)
    answer: str | None = Field(default=None, sa_type=Text)
    cost_usd: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float | None = None
    # host:pid of the process running it, so a restart can tell its own dead runs from live ones
    owner: str = Field(default="", sa_type=String(255))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class StepRow(SQLModel, table=True):
    __tablename__ = "run_steps"
    __table_args__ = (Index("ix_run_steps_run", "run_id", "index"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(sa_type=String(64), foreign_key="runs.id")
    index: int
    name: str = Field(sa_type=String(128))
    mode: str | None = Field(default=None, sa_type=String(16))
    status: str = Field(sa_type=String(16))  # succeeded | failed | cancelled
    content: str | None = Field(default=None, sa_type=Text)
    error: str | None = Field(default=None, sa_type=Text)
    cost_usd: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float | None = None
    degraded: bool = False
    degraded_reasons: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    prompt_versions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Mode `auto` only: the mode it chose for this step and why (the evidence it weighed).
    mode_choice: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class CandidateRow(SQLModel, table=True):
    __tablename__ = "run_candidates"

    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="run_steps.id", index=True)
    model: str = Field(sa_type=String(128))
    status: str = Field(sa_type=String(16))
    round: int = 0
    content: str | None = Field(default=None, sa_type=Text)
    error: str | None = Field(default=None, sa_type=Text)
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


class VerdictRow(SQLModel, table=True):
    __tablename__ = "run_verdicts"

    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="run_steps.id", index=True, unique=True)
    judge_model: str | None = Field(default=None, sa_type=String(128))
    status: str = Field(sa_type=String(16))
    winner: str | None = Field(default=None, sa_type=String(128))
    scores: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    rationale: str | None = Field(default=None, sa_type=Text)
    error: str | None = Field(default=None, sa_type=Text)
    degraded: bool = False
    seed: int | None = None
    order: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    prompt_version: str | None = Field(default=None, sa_type=String(64))
    fallback_rule: str | None = Field(default=None, sa_type=Text)
    latency_ms: float = 0.0
    cost_usd: float | None = None

"""Tables of the skill library: skills, their immutable versions, and each version's files."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel


class Scope(StrEnum):
    """Who may see a skill."""

    GLOBAL = "global"  # everyone
    TENANT = "tenant"  # the users of one tenant
    USER = "user"  # one user of one tenant


class Origin(StrEnum):
    """Where a version came from."""

    SEED = "seed"  # the skills/ folder shipped with the deployment
    IMPORT = "import"  # `evofuse skills import` or the API
    EVOLUTION = "evolution"  # proposed by the evolution job
    MANUAL = "manual"  # written or edited by a person through EvoFuse


class Status(StrEnum):
    """Lifecycle of a version. At most one version of a skill is active."""

    ACTIVE = "active"  # served to users and indexed for search
    CANDIDATE = "candidate"  # being tried (canary) beside the active version
    RETIRED = "retired"  # no longer served; kept for lineage and rollback


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp() -> Any:
    """A required, timezone-aware timestamp field that defaults to now (UTC)."""
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


def _values(enum: type[StrEnum]) -> str:
    return ", ".join(f"'{m.value}'" for m in enum)


class SkillRow(SQLModel, table=True):
    """A skill's identity: its name within one scope. Versions hang off it."""

    __tablename__ = "skills"
    __table_args__ = (
        # '' rather than NULL for "no tenant"/"no owner": NULLs never collide in a unique index.
        UniqueConstraint("name", "scope", "tenant", "owner", name="uq_skills_identity"),
        CheckConstraint(f"scope IN ({_values(Scope)})", name="ck_skills_scope"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=String(64), index=True)
    scope: str = Field(sa_type=String(16))
    tenant: str = Field(default="", sa_type=String(128))
    owner: str = Field(default="", sa_type=String(64))  # hashed user id, for scope "user"
    active_version: int | None = None
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class SkillVersionRow(SQLModel, table=True):
    """One immutable version: content hash, lineage, origin and lifecycle status."""

    __tablename__ = "skill_versions"
    __table_args__ = (
        UniqueConstraint("skill_id", "version", name="uq_skill_versions_number"),
        CheckConstraint(f"origin IN ({_values(Origin)})", name="ck_skill_versions_origin"),
        CheckConstraint(f"status IN ({_values(Status)})", name="ck_skill_versions_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    skill_id: int = Field(foreign_key="skills.id", index=True)
    version: int
    content_hash: str = Field(sa_type=String(80), index=True)
    parent_version: int | None = None
    origin: str = Field(sa_type=String(16))
    status: str = Field(sa_type=String(16))
    description: str = Field(sa_type=Text)
    mode: str | None = Field(default=None, sa_type=String(16))
    size_bytes: int = 0
    issues: str = Field(default="[]", sa_type=Text)  # JSON list of validation warnings
    note: str | None = Field(default=None, sa_type=Text)  # why this version exists
    created_at: datetime = timestamp()


class SkillFileRow(SQLModel, table=True):
    """One file of a version's bundle, stored byte for byte."""

    __tablename__ = "skill_files"
    __table_args__ = (UniqueConstraint("version_id", "path", name="uq_skill_files_path"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="skill_versions.id", index=True)
    path: str = Field(sa_type=String(1024))
    data: bytes = Field(sa_type=LargeBinary)
    executable: bool = False

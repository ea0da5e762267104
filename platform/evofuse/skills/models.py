"""What the library hands out: who is asking, and read-only views of skills and versions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel

from evofuse.errors import UserError
from evofuse.skills.bundle import Bundle
from evofuse.skills.spec import SkillSpec
from evofuse.store import Scope, SkillRow, SkillVersionRow


class Scoped(Protocol):
    """Whose a skill is: a `SkillRow`, or a plain row of those columns."""

    @property
    def scope(self) -> str: ...
    @property
    def tenant(self) -> str: ...
    @property
    def owner(self) -> str: ...


@dataclass(frozen=True)
class Context:
    """Who is asking: a tenant (API key) and optionally an end user within it.

    `user_hash` is the user's pseudonym (`evofuse.identity.UserHasher`), never the raw id: it is
    what user-scoped skills are owned by and what outcome rows record.
    """

    tenant: str = ""
    user_hash: str | None = None

    @property
    def owner(self) -> str | None:
        return self.user_hash or None

    def identity(self, scope: Scope) -> tuple[str, str]:
        """(tenant, owner) columns of a skill of `scope` that belongs to this context."""
        if scope is Scope.GLOBAL:
            return "", ""
        if scope is Scope.TENANT:
            if not self.tenant:
                raise UserError("A tenant skill needs a tenant.", hint="Pass --tenant TENANT.")
            return self.tenant, ""
        if not self.user_hash:
            raise UserError("A user skill needs a user.", hint="Pass --user USER (and --tenant).")
        return self.tenant, self.user_hash

    def can_see(self, row: Scoped) -> bool:
        if row.scope == Scope.GLOBAL:
            return True
        if row.scope == Scope.TENANT:
            return bool(self.tenant) and row.tenant == self.tenant
        return self.owner is not None and row.tenant == self.tenant and row.owner == self.owner


PUBLIC = Context()  # no tenant, no user: sees global skills only; writes global skills


def aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class VersionInfo(BaseModel):
    """One immutable version of a skill and its lineage."""

    id: int
    name: str
    version: int
    scope: str
    tenant: str
    status: str
    origin: str
    content_hash: str
    parent_version: int | None
    description: str
    mode: str | None
    size_bytes: int
    issues: list[dict[str, str]]
    note: str | None
    created_at: datetime

    @classmethod
    def of(cls, skill: SkillRow, row: SkillVersionRow) -> VersionInfo:
        assert row.id is not None
        return cls(
            id=row.id,
            name=skill.name,
            version=row.version,
            scope=skill.scope,
            tenant=skill.tenant,
            status=row.status,
            origin=row.origin,
            content_hash=row.content_hash,
            parent_version=row.parent_version,
            description=row.description,
            mode=row.mode,
            size_bytes=row.size_bytes,
            issues=json.loads(row.issues),
            note=row.note,
            created_at=aware(row.created_at),
        )


class VersionStats(VersionInfo):
    """A version with the outcome statistics the Selector ranks it by, credited to this row."""

    outcomes: int  # judge verdicts and user ratings of runs that used exactly this version
    mean_score: float | None  # their mean score in [0, 1]; None before the first outcome


class SkillInfo(BaseModel):
    """A skill and its active version, as `skills list` shows it."""

    name: str
    scope: str
    tenant: str
    active_version: int | None
    versions: int
    description: str
    mode: str | None
    updated_at: datetime


class LoadedSkill(BaseModel):
    """A version with its parsed SKILL.md and its files: what a run needs to use the skill."""

    model_config = {"arbitrary_types_allowed": True}

    info: VersionInfo
    spec: SkillSpec
    bundle: Bundle

    def summary(self) -> dict[str, Any]:
        return {
            **self.info.model_dump(mode="json"),
            "files": [f.path for f in self.bundle.files],
            "steps": [s.model_dump(mode="json") for s in self.spec.effective_steps()],
        }

"""The skill library: immutable versions in SQL (the source of truth), active ones in Chroma.

Every change is written to SQL first and then mirrored into the index. If the index update is
lost (a crash, Chroma down), `sync_index()` — run whenever a library is opened — repairs it from
SQL, so the two never stay apart.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, col, func, select

from evofuse.errors import SkillNotFoundError, StaleVersionError, UserError
from evofuse.skills.bundle import Bundle
from evofuse.skills.index import COLLECTION, IndexEntry, SkillIndex, open_skill_index
from evofuse.skills.models import (
    PUBLIC,
    Context,
    LoadedSkill,
    SkillInfo,
    VersionInfo,
    VersionStats,
)
from evofuse.skills.queries import (
    find_identity,
    load_version,
    make_active,
    outcome_stats,
    resolve,
    version_of,
    versions_of,
)
from evofuse.skills.spec import SKILL_FILE, Issue, SkillSpec, parse_skill_md
from evofuse.store import (
    Origin,
    Scope,
    SkillFileRow,
    SkillRow,
    SkillVersionRow,
    Status,
    Store,
    utcnow,
)

if TYPE_CHECKING:
    from evofuse.config import Settings


@dataclass(frozen=True)
class Published:
    version: VersionInfo
    created: bool  # False: the same content already existed, no version was made
    entry: IndexEntry | None = None  # what to put in the index, when this version went live


@dataclass(frozen=True)
class SearchResult:
    name: str
    version: int
    scope: str
    score: float


class Library:
    """Skills, their versions and lineage, scoped global | tenant | user."""

    def __init__(
        self, store: Store, index: SkillIndex | Callable[[], SkillIndex], *, sync: bool = True
    ) -> None:
        """`index` may be a factory: listing and showing skills never open Chroma or a model."""
        self.store = store
        self._owns_store = True
        self._sync = sync
        self._index: SkillIndex | None = None
        self._index_factory: Callable[[], SkillIndex] | None = None
        self._index_lock = threading.Lock()
        if isinstance(index, SkillIndex):
            self._set_index(index)
        else:
            self._index_factory = index

    @property
    def index(self) -> SkillIndex:
        if self._index is None:
            # Concurrent first searches (the API's warm-up and a request, say) must not open
            # two Chroma clients on one folder: chromadb's embedded client breaks if they race.
            with self._index_lock:
                if self._index is None:
                    assert self._index_factory is not None
                    self._set_index(self._index_factory())
        assert self._index is not None
        return self._index

    def _set_index(self, index: SkillIndex) -> None:
        self._index = index
        if self._sync:
            self.sync_index()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, store: Store | None = None, collection: str = COLLECTION
    ) -> Library:
        """The library of a deployment: SQL at storage.database_url (or the `store` given, to
        share one engine), Chroma at storage.chroma, opened on first search."""
        from evofuse.skills.embeddings import make_embedder

        def open_index() -> SkillIndex:
            embedder = make_embedder(settings.skills.embedding, settings.router_model_list())
            return open_skill_index(settings.storage.chroma, embedder, collection)

        library = cls(store or Store(settings.storage.database_url), open_index)
        library._owns_store = store is None  # a shared store is closed by whoever made it
        return library

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
        if self._owns_store:
            self.store.close()

    # -- writing ----------------------------------------------------------------------------

    def publish(
        self,
        bundle: Bundle,
        *,
        scope: Scope = Scope.GLOBAL,
        context: Context = PUBLIC,
        origin: Origin = Origin.IMPORT,
        status: Status = Status.ACTIVE,
        parent_version: int | None = None,
        note: str | None = None,
        within: Callable[[Session, VersionInfo], None] | None = None,
        expect_active: int | None = None,
    ) -> Published:
        """Store `bundle` as a new version unless one with the same content exists already.

        `within(session, version)` runs inside the same transaction once a new version is
        written, so a caller's own rows (evolution's canary) commit with it or not at all.
        `expect_active`: publish only while that version is the skill's active one (checked
        with the skill's row locked), else raise `StaleVersionError` and write nothing.
        """
        spec, issues = parse_skill_md(bundle.skill_md, path="SKILL.md")
        if spec is None:
            raise UserError(
                "The skill is not valid: " + "; ".join(str(i) for i in issues),
                hint="Fix the fields named above in SKILL.md.",
            )
        published = self._publish(
            bundle,
            spec,
            issues,
            scope,
            context,
            origin,
            status,
            parent_version,
            note,
            within,
            expect_active=expect_active,
        )
        self._mirror([published])
        return published

    def publish_many(
        self,
        items: Sequence[tuple[Bundle, SkillSpec, list[Issue]]],
        *,
        scope: Scope,
        context: Context,
        origin: Origin,
    ) -> list[Published]:
        """Publish parsed bundles as active versions; the index is updated in one batch."""
        done = [
            self._publish(b, spec, issues, scope, context, origin, Status.ACTIVE, None, None, None)
            for b, spec, issues in items
        ]
        self._mirror(done)
        return done

    def _publish(
        self,
        bundle: Bundle,
        spec: SkillSpec,
        issues: list[Issue],
        scope: Scope,
        context: Context,
        origin: Origin,
        status: Status,
        parent_version: int | None,
        note: str | None,
        within: Callable[[Session, VersionInfo], None] | None,
        *,
        expect_active: int | None = None,
    ) -> Published:
        tenant, owner = context.identity(scope)
        content_hash = bundle.content_hash
        with self.store.session() as session:
            skill = find_identity(session, spec.name, scope.value, tenant, owner)
            if expect_active is not None:
                _expect_active(session, skill, spec.name, expect_active)
            if skill is None:
                skill = SkillRow(name=spec.name, scope=scope.value, tenant=tenant, owner=owner)
                session.add(skill)
                session.flush()
            existing = session.exec(
                select(SkillVersionRow).where(
                    col(SkillVersionRow.skill_id) == skill.id,
                    col(SkillVersionRow.content_hash) == content_hash,
                )
            ).first()
            if existing is not None:
                return Published(VersionInfo.of(skill, existing), created=False)
            latest = session.exec(
                select(func.max(SkillVersionRow.version)).where(
                    col(SkillVersionRow.skill_id) == skill.id
                )
            ).one()
            if parent_version is None:
                parent_version = skill.active_version or latest
            assert skill.id is not None
            row = SkillVersionRow(
                skill_id=skill.id,
                version=(latest or 0) + 1,
                content_hash=content_hash,
                parent_version=parent_version,
                origin=origin.value,
                status=Status.CANDIDATE.value if status is Status.ACTIVE else status.value,
                description=spec.description,
                mode=spec.mode.value if spec.mode else None,
                size_bytes=bundle.size,
                issues=json.dumps([i.as_dict() for i in issues]),
                note=note,
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            for f in bundle.files:
                session.add(
                    SkillFileRow(
                        version_id=row.id, path=f.path, data=f.data, executable=f.executable
                    )
                )
            if status is Status.ACTIVE:
                make_active(session, skill, row)
            skill.updated_at = utcnow()
            session.add(skill)
            info = VersionInfo.of(skill, row)
            if within is not None:
                within(session, info)
            entry = _entry(info, skill, spec) if status is Status.ACTIVE else None
            return Published(info, created=True, entry=entry)

    def activate(
        self, name: str, version: int, *, context: Context = PUBLIC, scope: Scope | None = None
    ) -> VersionInfo:
        """Serve `version` from now on; the version served until now is retired."""
        with self.store.session() as session:
            skill = resolve(session, name, context, scope)
            row = version_of(session, skill, version)
            if row.status != Status.ACTIVE:
                make_active(session, skill, row)
                skill.updated_at = utcnow()
                session.add(skill)
            info = VersionInfo.of(skill, row)
            entry = _entry(info, skill, load_version(session, skill, row).spec)
        self.index.upsert([entry])
        return info

    def rollback(
        self,
        name: str,
        *,
        to: int | None = None,
        context: Context = PUBLIC,
        scope: Scope | None = None,
    ) -> VersionInfo:
        """Make an earlier version active again (default: the active version's parent)."""
        with self.store.session() as session:
            skill = resolve(session, name, context, scope)
            rows = versions_of(session, skill)
            current = next((r for r in rows if r.status == Status.ACTIVE), None)
            if to is None:
                if current is None:
                    raise UserError(f"{name} has no active version.", hint="Pass --to VERSION.")
                earlier = [r.version for r in rows if r.version < current.version]
                to = current.parent_version or (max(earlier) if earlier else None)
                if to is None or to == current.version:
                    raise UserError(
                        f"{name} v{current.version} has no earlier version to roll back to."
                    )
            if current is not None and to == current.version:
                raise UserError(f"{name} v{to} is already the active version.")
        return self.activate(name, to, context=context, scope=scope)

    def retire(self, name: str, *, context: Context = PUBLIC, scope: Scope | None = None) -> None:
        """Stop serving a skill at all (evolution's "retire"); its versions stay for lineage."""
        with self.store.session() as session:
            skill = resolve(session, name, context, scope)
            for row in versions_of(session, skill):
                if row.status == Status.ACTIVE:
                    row.status = Status.RETIRED.value
                    session.add(row)
            skill.active_version = None
            skill.updated_at = utcnow()
            session.add(skill)
            skill_id = skill.id
        assert skill_id is not None
        self.index.delete([skill_id])

    # -- reading ----------------------------------------------------------------------------

    def list_skills(
        self, context: Context = PUBLIC, *, everything: bool = False
    ) -> list[SkillInfo]:
        """Skills visible to `context` (or every skill, for administrators), by name."""
        with self.store.session() as session:
            counts = dict(
                session.exec(
                    select(SkillVersionRow.skill_id, func.count()).group_by(
                        col(SkillVersionRow.skill_id)
                    )
                ).all()
            )
            rows = session.exec(
                select(SkillRow, SkillVersionRow)
                .join(
                    SkillVersionRow,
                    (col(SkillVersionRow.skill_id) == SkillRow.id)
                    & (col(SkillVersionRow.status) == Status.ACTIVE.value),
                    isouter=True,
                )
                .order_by(col(SkillRow.name), col(SkillRow.scope))
            ).all()
            out = []
            for skill, active in rows:
                if not everything and not context.can_see(skill):
                    continue
                out.append(
                    SkillInfo(
                        name=skill.name,
                        scope=skill.scope,
                        tenant=skill.tenant,
                        active_version=skill.active_version,
                        versions=counts.get(skill.id or 0, 0),
                        description=active.description if active else "",
                        mode=active.mode if active else None,
                        updated_at=skill.updated_at,
                    )
                )
            return out

    def versions(
        self, name: str, *, context: Context = PUBLIC, scope: Scope | None = None
    ) -> list[VersionInfo]:
        """Every version of a skill, oldest first."""
        with self.store.session() as session:
            skill = resolve(session, name, context, scope)
            return [VersionInfo.of(skill, r) for r in versions_of(session, skill)]

    def version_stats(
        self, name: str, *, context: Context = PUBLIC, scope: Scope | None = None
    ) -> list[VersionStats]:
        """Every version of a skill, oldest first, with the outcomes credited to it."""
        with self.store.session() as session:
            skill = resolve(session, name, context, scope)
            rows = versions_of(session, skill)
            stats = outcome_stats(session, [r.id for r in rows if r.id is not None])
        out = []
        for row in rows:
            n, mean = stats.get(row.id or -1, (0, 0.0))
            info = VersionInfo.of(skill, row).model_dump()
            out.append(VersionStats(**info, outcomes=n, mean_score=round(mean, 4) if n else None))
        return out

    def load(
        self,
        name: str,
        *,
        context: Context = PUBLIC,
        version: int | None = None,
        scope: Scope | None = None,
    ) -> LoadedSkill:
        """A version (default: the active one) with its parsed SKILL.md and files."""
        with self.store.session() as session:
            skill = resolve(session, name, context, scope)
            if version is None:
                if skill.active_version is None:
                    raise SkillNotFoundError(
                        f"{name} has no active version.", hint="Pass --version N or roll back."
                    )
                version = skill.active_version
            return load_version(session, skill, version_of(session, skill, version))

    def load_version(self, version_id: int) -> LoadedSkill:
        """A version by its database id (what runs and outcomes refer to)."""
        with self.store.session() as session:
            row = session.get(SkillVersionRow, version_id)
            if row is None:
                raise SkillNotFoundError(f"No skill version with id {version_id}.")
            skill = session.get(SkillRow, row.skill_id)
            assert skill is not None
            return load_version(session, skill, row)

    def search(self, query: str, *, context: Context = PUBLIC, k: int = 5) -> list[SearchResult]:
        """Active skills most similar to `query` that `context` may see, best first."""
        hits = self.index.query(query, tenant=context.tenant, owner=context.owner, k=k)
        return [SearchResult(h.name, h.version, h.scope, round(h.similarity, 4)) for h in hits]

    # -- index ------------------------------------------------------------------------------

    def _mirror(self, published: Iterable[Published]) -> None:
        self.index.upsert([p.entry for p in published if p.entry is not None])

    def sync_index(self) -> tuple[int, int]:
        """Make the index hold exactly SQL's active versions; returns (upserted, removed)."""
        have = self.index.snapshot()
        with self.store.session() as session:
            active = session.exec(
                select(SkillRow, SkillVersionRow).join(
                    SkillVersionRow,
                    (col(SkillVersionRow.skill_id) == SkillRow.id)
                    & (col(SkillVersionRow.status) == Status.ACTIVE.value),
                )
            ).all()
            wanted = {s.id for s, _ in active}
            stale = [
                (s, v) for s, v in active if have.get(s.id or 0) != (v.version, v.content_hash)
            ]
            # Only stale versions need their SKILL.md parsed for the texts to embed.
            files = dict(
                session.exec(
                    select(SkillFileRow.version_id, SkillFileRow.data).where(
                        col(SkillFileRow.version_id).in_([v.id for _, v in stale]),
                        col(SkillFileRow.path) == SKILL_FILE,
                    )
                ).all()
            )
            entries = []
            for skill, row in stale:
                spec, _ = parse_skill_md(files[row.id or 0], path=f"{skill.name} v{row.version}")
                if spec is not None:
                    entries.append(_entry(VersionInfo.of(skill, row), skill, spec))
        extra = [sid for sid in have if sid not in wanted]
        self.index.upsert(entries)
        self.index.delete(extra)
        return len(entries), len(extra)

    def reindex(self) -> int:
        """Rebuild the index from SQL with the configured embedding backend."""
        self.index.rebuild()
        upserted, _ = self.sync_index()
        return upserted


def _expect_active(session: Session, skill: SkillRow | None, name: str, version: int) -> None:
    """Raise unless `version` is active; the row stays locked (PostgreSQL) until the commit."""
    if skill is not None:
        # Another replica's rollback or publication commits before or after this one, never
        # in between (SQLite serializes writers by itself).
        session.refresh(skill, with_for_update=True)
    active = None if skill is None else skill.active_version
    if active != version:
        now = "no version" if active is None else f"v{active}"
        raise StaleVersionError(
            f"{name} v{version} is no longer the active version ({now} is).",
            hint=f"Look at `evofuse skills versions {name}` and make the change again.",
        )


def _entry(info: VersionInfo, skill: SkillRow, spec: SkillSpec) -> IndexEntry:
    assert skill.id is not None
    return IndexEntry(
        skill_id=skill.id,
        name=info.name,
        version=info.version,
        scope=info.scope,
        tenant=info.tenant,
        owner=skill.owner,
        mode=info.mode or "",
        content_hash=info.content_hash,
        texts=tuple(spec.search_texts()),
    )

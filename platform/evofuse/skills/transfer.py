"""Import skill folders into the library and export them back, byte for byte."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from evofuse.errors import UserError
from evofuse.skills.bundle import Bundle, read_bundle
from evofuse.skills.library import Library
from evofuse.skills.models import PUBLIC, Context
from evofuse.skills.spec import SKILL_FILE, Issue, Severity, SkillSpec, parse_skill_md
from evofuse.store import Origin, Scope

Progress = Callable[[str], None]


class ImportStatus(StrEnum):
    CREATED = "created"  # a new version (of a new or a changed skill)
    UNCHANGED = "unchanged"  # identical content is already stored: no version made
    INVALID = "invalid"  # not imported; `issues` says why


@dataclass
class ImportResult:
    path: str
    name: str | None
    status: ImportStatus
    version: int | None = None
    issues: list[Issue] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "name": self.name,
            "status": self.status.value,
            "version": self.version,
            "issues": [i.as_dict() for i in self.issues],
        }


@dataclass
class ImportReport:
    results: list[ImportResult]

    def count(self, status: ImportStatus) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def warnings(self) -> list[Issue]:
        return [i for r in self.results for i in r.issues if i.severity is Severity.WARNING]


def skill_folders(path: Path) -> list[Path]:
    """`path` itself if it holds a SKILL.md, else each sub-folder that does (sorted by name)."""
    if not path.exists():
        raise UserError(f"{path} does not exist.", hint="Pass a skill folder or a folder of them.")
    if path.is_file():
        if path.name == SKILL_FILE:
            return [path.parent]
        raise UserError(f"{path} is a file.", hint="Pass the skill's folder, not a file in it.")
    if (path / SKILL_FILE).exists():
        return [path]
    return sorted(
        p
        for p in path.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / SKILL_FILE).exists()
    )


def read_skill(folder: Path) -> tuple[Bundle | None, SkillSpec | None, list[Issue]]:
    """Read and validate one skill folder; issues carry the file path and the field."""
    bundle, issues = read_bundle(folder)
    if bundle is None:
        return None, None, issues
    spec, issues = parse_skill_md(
        bundle.skill_md, path=str(folder / SKILL_FILE), folder=folder.name
    )
    return bundle, spec, issues


def import_path(
    library: Library,
    path: Path,
    *,
    scope: Scope = Scope.GLOBAL,
    context: Context = PUBLIC,
    origin: Origin = Origin.IMPORT,
    strict: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import every skill under `path`. An invalid skill is reported and the others still load.

    With `strict`, specification warnings (for example a description over 1,024 characters)
    reject the skill too.
    """
    folders = skill_folders(path)
    if not folders:
        raise UserError(
            f"No {SKILL_FILE} in {path} or its sub-folders.",
            hint="A skill is a folder with a SKILL.md: pass it, or the folder that holds them.",
        )
    context.identity(scope)  # fail once, up front, on a scope without its tenant/user
    results: list[ImportResult] = []
    valid: list[tuple[int, Bundle, SkillSpec, list[Issue]]] = []
    for folder in folders:
        if progress:
            progress(folder.name)
        bundle, spec, issues = read_skill(folder)
        blocking = [
            i
            for i in issues
            if i.severity is Severity.ERROR or (strict and i.severity is Severity.WARNING)
        ]
        result = ImportResult(
            str(folder), spec.name if spec else None, ImportStatus.INVALID, issues=issues
        )
        results.append(result)
        if bundle is not None and spec is not None and not blocking:
            valid.append((len(results) - 1, bundle, spec, issues))
    published = library.publish_many(
        [(b, s, i) for _, b, s, i in valid], scope=scope, context=context, origin=origin
    )
    for (position, *_), outcome in zip(valid, published, strict=True):
        result = results[position]
        result.status = ImportStatus.CREATED if outcome.created else ImportStatus.UNCHANGED
        result.version = outcome.version.version
    return ImportReport(results)


def export_skills(
    library: Library,
    dest: Path,
    *,
    names: list[str] | None = None,
    context: Context = PUBLIC,
    scope: Scope | None = None,
    version: int | None = None,
    force: bool = False,
) -> list[Path]:
    """Write active versions (or `version` of one skill) as `dest/<name>/…`, byte for byte.

    An existing non-empty skill folder is only replaced with `force`; then files that are not
    in the bundle are removed, so `git diff` shows exactly what changed.
    """
    if version is not None and (names is None or len(names) != 1):
        raise UserError("--version needs exactly one skill name.")
    if names is None:
        names = sorted(
            {s.name for s in library.list_skills(context) if s.active_version is not None}
        )
    loaded = [library.load(n, context=context, version=version, scope=scope) for n in names]
    targets = [dest / skill.spec.name for skill in loaded]
    busy = [t for t in targets if t.exists() and any(t.iterdir())]
    if busy and not force:
        raise UserError(
            f"{len(busy)} skill folder(s) already exist: {', '.join(str(b) for b in busy[:5])}",
            hint="Pass --force to replace them (files not in the skill are removed).",
        )
    for skill, target in zip(loaded, targets, strict=True):
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise UserError(f"{target} is not a folder; move it away first.")
        if target.exists():
            shutil.rmtree(target)
        skill.bundle.write(target)
    return targets

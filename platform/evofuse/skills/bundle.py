"""A skill bundle: every file of a skill folder, byte for byte, with one content hash.

`SKILL.md` plus whatever the author ships beside it (`references/`, `scripts/`, `assets/`, …).
Paths are relative POSIX paths confined to the bundle: no `..`, no absolute paths, no symlink
that leaves the folder. They are checked when a folder is read and again when a bundle is
written, because a bundle may also come from the database or from evolution.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from evofuse.errors import BundleError
from evofuse.skills.spec import SKILL_FILE, Issue

# Tool droppings, not skill content: a re-import after running a script must not be a new version.
IGNORED_NAMES = frozenset({".git", "__pycache__", ".DS_Store", ".pytest_cache", ".mypy_cache"})
MAX_FILES = 1000
MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class BundleFile:
    path: str  # relative POSIX path inside the bundle
    data: bytes
    executable: bool = False


@dataclass(frozen=True)
class Bundle:
    """The files of one skill version, sorted by path."""

    files: tuple[BundleFile, ...]

    @classmethod
    def of(cls, files: list[BundleFile]) -> Bundle:
        for f in files:
            check_relative_path(f.path)
        paths = [f.path for f in files]
        if len(set(paths)) != len(paths):
            raise BundleError("the bundle lists the same path twice")
        return cls(tuple(sorted(files, key=lambda f: f.path)))

    @property
    def skill_md(self) -> bytes:
        for f in self.files:
            if f.path == SKILL_FILE:
                return f.data
        raise BundleError(f"the bundle has no {SKILL_FILE}")

    @property
    def size(self) -> int:
        return sum(len(f.data) for f in self.files)

    @property
    def content_hash(self) -> str:
        """sha256 over every path, executable bit and content, so any change is a new version."""
        digest = hashlib.sha256()
        for f in self.files:
            path = f.path.encode("utf-8")
            digest.update(len(path).to_bytes(4, "big") + path)
            digest.update(b"x" if f.executable else b"-")
            digest.update(len(f.data).to_bytes(8, "big") + f.data)
        return "sha256:" + digest.hexdigest()

    def write(self, target: Path) -> None:
        """Write the files under `target` exactly as stored (the folder is created)."""
        root = target.resolve()
        for f in self.files:
            check_relative_path(f.path)
            dest = (root / f.path).resolve()
            if not dest.is_relative_to(root):
                raise BundleError(f"{f.path!r} would be written outside {root}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(f.data)
            mode = dest.stat().st_mode
            exec_bits = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
            dest.chmod(mode | exec_bits if f.executable else mode & ~exec_bits)


def check_relative_path(path: str) -> None:
    """Refuse anything but a plain relative path inside the bundle."""
    if not path or "\\" in path or "\x00" in path:
        raise BundleError(f"{path!r} is not a plain relative path")
    pure = PurePosixPath(path)
    if pure.is_absolute() or (len(path) > 1 and path[1] == ":"):
        raise BundleError(f"{path!r} is absolute; bundle paths are relative to the skill folder")
    if any(part in ("..", ".", "") for part in path.split("/")):
        raise BundleError(f"{path!r} leaves the skill folder or is not normalised")


def read_bundle(folder: Path) -> tuple[Bundle | None, list[Issue]]:
    """Read every file under `folder`; returns the bundle or the issues that prevent it."""
    root = folder.resolve()
    where = str(folder / SKILL_FILE)
    files: list[BundleFile] = []
    issues: list[Issue] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_NAMES)
        current = Path(dirpath)
        for d in list(dirnames):
            if (current / d).is_symlink():
                dirnames.remove(d)  # not followed: listed as an entry below and refused there
                filenames.append(d)
        for name in sorted(filenames):
            if name in IGNORED_NAMES:
                continue
            full = current / name
            rel = full.relative_to(root).as_posix()
            problem = _refuse_link(full, root)
            if problem:
                issues.append(Issue(where, rel, problem))
                continue
            try:
                data = full.read_bytes()
                executable = bool(full.stat().st_mode & stat.S_IXUSR)
            except OSError as exc:
                issues.append(Issue(where, rel, f"cannot be read: {exc.strerror}"))
                continue
            total += len(data)
            files.append(BundleFile(rel, data, executable))
    if len(files) > MAX_FILES or total > MAX_BYTES:
        issues.append(
            Issue(
                where,
                "bundle",
                f"{len(files)} files, {total} bytes: a skill may hold at most {MAX_FILES} files "
                f"and {MAX_BYTES // (1024 * 1024)} MiB",
            )
        )
    if not any(f.path == SKILL_FILE for f in files):
        issues.append(Issue(where, "file", f"missing: a skill folder needs a {SKILL_FILE}"))
    if issues:
        return None, issues
    return Bundle.of(files), []


def _refuse_link(full: Path, root: Path) -> str | None:
    if not full.is_symlink():
        return None
    target = full.resolve()
    if not target.is_relative_to(root):
        return f"is a symlink out of the skill folder (to {target}); copy the file in instead"
    if target.is_dir():
        return "is a symlink to a folder; copy the folder in instead"
    return None

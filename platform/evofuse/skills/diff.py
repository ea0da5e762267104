"""Unified diffs between skill versions: what the dashboard shows and what a cycle report keeps.

One function for both, so a proposal's stored diff reads exactly like a diff between two
published versions.
"""

from __future__ import annotations

import difflib

from evofuse.skills.bundle import Bundle

CONTEXT_LINES = 3


def text_diff(old: str, new: str, *, old_label: str, new_label: str) -> str:
    """A unified diff of two texts ('' when they are equal)."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=old_label,
        tofile=new_label,
        n=CONTEXT_LINES,
    )
    # A last line without a newline would glue onto the next file's header.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def bundle_diff(old: Bundle, new: Bundle, *, old_label: str, new_label: str) -> str:
    """Every file that differs between two bundles, as one unified diff (SKILL.md first)."""
    before = {f.path: f.data for f in old.files}
    after = {f.path: f.data for f in new.files}
    paths = sorted(before.keys() | after.keys(), key=lambda p: (p != "SKILL.md", p))
    parts = []
    for path in paths:
        a, b = before.get(path, b""), after.get(path, b"")
        if a == b:
            continue
        left, right = f"{old_label}/{path}", f"{new_label}/{path}"
        try:
            parts.append(
                text_diff(a.decode("utf-8"), b.decode("utf-8"), old_label=left, new_label=right)
            )
        except UnicodeDecodeError:
            parts.append(f"--- {left}\n+++ {right}\nBinary file differs\n")
    return "".join(parts)

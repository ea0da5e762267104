"""A unified diff as lines to colour: added, removed, hunk header, file header or context."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DiffLine:
    kind: str  # add | del | hunk | file | ctx (CSS classes in static/ui.css)
    text: str


def diff_lines(diff: str) -> list[DiffLine]:
    lines = []
    for text in diff.splitlines():
        if text.startswith(("+++ ", "--- ")):
            kind = "file"
        elif text.startswith("@@"):
            kind = "hunk"
        elif text.startswith("+"):
            kind = "add"
        elif text.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        lines.append(DiffLine(kind, text))
    return lines

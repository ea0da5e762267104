"""Small patches to SKILL.md: exact find/replace edits, their size, and the collapse guard.

The Evolver does not rewrite a skill; it proposes edits, each replacing one exact and unique
piece of the current text. The result's size of change is measured against the current text,
so a reviewer (and the gate) sees how much moved, and a "rewrite" that keeps little of the
skill — the context collapse of LLM-merged skills — is refused before it goes anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from evofuse.evolution.report import ChangeSize

MAX_EDITS = 12


class PatchError(ValueError):
    """An edit that cannot be applied, or a change that breaks the bounds."""


@dataclass(frozen=True)
class Edit:
    find: str
    replace: str


def parse_edits(raw: object) -> list[Edit]:
    if not isinstance(raw, list) or not raw:
        raise PatchError("an improve/redescribe proposal needs a non-empty list of edits")
    if len(raw) > MAX_EDITS:
        raise PatchError(f"{len(raw)} edits; a patch may have at most {MAX_EDITS}")
    edits = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise PatchError(f"edit {i} is not an object with find and replace")
        find, replace = item.get("find"), item.get("replace")
        if not isinstance(find, str) or not isinstance(replace, str):
            raise PatchError(f"edit {i}: find and replace must both be strings")
        edits.append(Edit(find, replace))
    return edits


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply edits in order; each `find` must occur exactly once in the text at that point.

    An empty `find` appends `replace` at the end (adding a section is a common small patch).
    """
    for i, edit in enumerate(edits, start=1):
        if edit.find == "":
            text = text.rstrip("\n") + "\n\n" + edit.replace.strip("\n") + "\n"
            continue
        count = text.count(edit.find)
        if count != 1:
            where = "does not occur" if count == 0 else f"occurs {count} times"
            raise PatchError(f"edit {i}: its `find` text {where} in the current SKILL.md")
        text = text.replace(edit.find, edit.replace, 1)
    return text


def measure(before: str, after: str, edits: int) -> ChangeSize:
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    kept = sum(block.size for block in matcher.get_matching_blocks())
    removed = len(before) - kept
    added = len(after) - kept
    base = max(1, len(before))
    return ChangeSize(
        edits=edits,
        chars_added=added,
        chars_removed=removed,
        change_ratio=round((added + removed) / base, 4),
        retained_ratio=round(kept / base, 4),
    )


def check_bounds(change: ChangeSize, *, max_change_ratio: float, min_retained: float) -> None:
    if change.retained_ratio < min_retained:
        raise PatchError(
            f"context collapse: the proposal keeps only {change.retained_ratio:.0%} of the "
            f"current skill (at least {min_retained:.0%} must stay)"
        )
    if change.change_ratio > max_change_ratio:
        raise PatchError(
            f"the patch changes {change.change_ratio:.0%} of the skill; at most "
            f"{max_change_ratio:.0%} may change in one cycle"
        )


def added_text(before: str, after: str) -> str:
    """Only the text the patch inserted (what the verbatim-feedback guard inspects)."""
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    return "\n".join(
        after[j1:j2]
        for tag, _i1, _i2, j1, j2 in matcher.get_opcodes()
        if tag in ("insert", "replace")
    )

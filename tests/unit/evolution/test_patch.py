"""Small patches: exact edits, their measured size, and the context-collapse guard."""

from __future__ import annotations

import pytest

from evofuse.evolution.patch import (
    Edit,
    PatchError,
    added_text,
    apply_edits,
    check_bounds,
    measure,
    parse_edits,
)

SKILL = "---\nname: x\ndescription: d\n---\n# X\n\nStep one.\nStep two.\nStep three.\n" * 3


def test_edits_replace_one_exact_unique_piece_each() -> None:
    text = "a\nb\nc\n"
    assert apply_edits(text, [Edit("b", "B"), Edit("c", "C")]) == "a\nB\nC\n"
    assert apply_edits(text, [Edit("", "d")]) == "a\nb\nc\n\nd\n"  # empty find appends


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ([Edit("zzz", "y")], "edit 1: its `find` text does not occur in the current SKILL.md"),
        ([Edit("Step", "y")], "edit 1: its `find` text occurs 9 times in the current SKILL.md"),
    ],
)
def test_an_edit_that_does_not_match_exactly_once_is_refused(
    edits: list[Edit], message: str
) -> None:
    with pytest.raises(PatchError, match=f"^{message}$"):
        apply_edits(SKILL, edits)


def test_malformed_edit_lists_are_refused() -> None:
    with pytest.raises(PatchError, match="non-empty list"):
        parse_edits([])
    with pytest.raises(PatchError, match="edit 1: find and replace must both be strings"):
        parse_edits([{"find": "a"}])
    with pytest.raises(PatchError, match="at most 12"):
        parse_edits([{"find": str(i), "replace": ""} for i in range(13)])


def test_size_is_measured_against_the_current_text() -> None:
    after = SKILL.replace("Step two.", "Step two, carefully.", 1)
    change = measure(SKILL, after, 1)
    assert (change.chars_added, change.chars_removed) == (11, 0)
    assert change.retained_ratio == 1.0
    assert change.change_ratio == round(11 / len(SKILL), 4)
    assert added_text(SKILL, after) == ", carefully"


def test_a_rewrite_keeping_little_of_the_skill_is_a_context_collapse() -> None:
    change = measure(SKILL, "---\nname: x\ndescription: d\n---\nBe good.\n", 1)
    message = "context collapse: the proposal keeps only 17% of the current skill"
    with pytest.raises(PatchError, match=f"^{message} \\(at least 60% must stay\\)$"):
        check_bounds(change, max_change_ratio=0.4, min_retained=0.6)


def test_a_patch_larger_than_the_bound_is_refused() -> None:
    change = measure(SKILL, SKILL + "x" * len(SKILL), 1)
    with pytest.raises(PatchError, match=r"changes 100% of the skill; at most 40%"):
        check_bounds(change, max_change_ratio=0.4, min_retained=0.6)
    check_bounds(change, max_change_ratio=1.0, min_retained=0.6)  # within looser bounds

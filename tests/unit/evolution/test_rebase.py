"""Re-applying a proposal's change to a newer active version (three-way, by lines)."""

from __future__ import annotations

import pytest

from evofuse.evolution.rebase import three_way

BASE = """---
name: sql-review
description: Review SQL.
---
# SQL review

## Checklist

- NULL semantics.
- Joins that multiply rows.

## Output format

Verdict first.
"""


def edited(text: str, find: str, replace: str) -> str:
    assert text.count(find) == 1
    return text.replace(find, replace)


def test_changes_to_different_parts_merge() -> None:
    proposed = edited(BASE, "## Checklist\n", "State the database first.\n\n## Checklist\n")
    active = edited(BASE, "Verdict first.\n", "Verdict first, then fixes.\n")
    merged = three_way(BASE, proposed, active)
    assert merged == edited(active, "## Checklist\n", "State the database first.\n\n## Checklist\n")


def test_a_replaced_line_that_changed_meanwhile_conflicts() -> None:
    proposed = edited(BASE, "- NULL semantics.\n", "- NULL semantics in NOT IN.\n")
    active = edited(BASE, "- NULL semantics.\n", "- NULLs.\n")
    assert three_way(BASE, proposed, active) is None


def test_a_change_next_to_a_changed_line_conflicts() -> None:
    proposed = edited(
        BASE, "- Joins that multiply rows.\n", "- Joins that multiply rows (fan-out).\n"
    )
    active = edited(BASE, "- NULL semantics.\n", "- NULLs in aggregates.\n")
    assert three_way(BASE, proposed, active) is None


def test_an_insertion_where_lines_were_inserted_meanwhile_conflicts() -> None:
    proposed = edited(BASE, "## Output format\n", "- Missing indexes.\n\n## Output format\n")
    active = edited(BASE, "## Output format\n", "- Locks.\n\n## Output format\n")
    assert three_way(BASE, proposed, active) is None


def test_a_removed_section_conflicts_with_an_edit_inside_it() -> None:
    proposed = edited(BASE, "Verdict first.\n", "Verdict first, always.\n")
    active = edited(BASE, "## Output format\n\nVerdict first.\n", "")
    assert three_way(BASE, proposed, active) is None


def test_lines_moved_down_by_an_earlier_insertion_still_merge() -> None:
    proposed = edited(BASE, "Verdict first.\n", "Verdict first, then blocking issues.\n")
    active = edited(BASE, "# SQL review\n", "# SQL review\n\nAssume production data.\n")
    merged = three_way(BASE, proposed, active)
    assert merged is not None
    assert "Assume production data." in merged and "then blocking issues." in merged
    assert merged.count("Verdict first") == 1


@pytest.mark.parametrize("where", ["start", "end"])
def test_edges_of_the_file(where: str) -> None:
    if where == "start":
        proposed = "<!-- reviewed -->\n" + BASE
        active = edited(BASE, "Verdict first.\n", "Verdict.\n")
        assert three_way(BASE, proposed, active) == "<!-- reviewed -->\n" + active
    else:
        proposed = BASE + "\n## Examples\n\nOne.\n"
        active = edited(BASE, "- NULL semantics.\n", "- NULLs.\n")
        assert three_way(BASE, proposed, active) == active + "\n## Examples\n\nOne.\n"


def test_nothing_changed_meanwhile_gives_the_proposal_back() -> None:
    proposed = edited(BASE, "- NULL semantics.\n", "- NULL semantics in NOT IN.\n")
    assert three_way(BASE, proposed, BASE) == proposed

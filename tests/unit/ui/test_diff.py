"""Unified diffs between bundles, and their lines as the page colours them."""

from __future__ import annotations

from evofuse.skills.bundle import Bundle, BundleFile
from evofuse.skills.diff import bundle_diff, text_diff
from evofuse.ui.diffview import diff_lines


def bundle(*files: tuple[str, bytes]) -> Bundle:
    return Bundle.of([BundleFile(path, data) for path, data in files])


def test_changed_added_removed_and_binary_files() -> None:
    old = bundle(("SKILL.md", b"a\nb\n"), ("notes.md", b"x\n"), ("logo.bin", b"\xff\x00"))
    new = bundle(("SKILL.md", b"a\nc\n"), ("extra.md", b"y\n"), ("logo.bin", b"\xfe\x00"))
    diff = bundle_diff(old, new, old_label="v1", new_label="v2")
    assert diff.index("v1/SKILL.md") < diff.index("v1/extra.md")  # SKILL.md first
    assert "-b\n+c\n" in diff
    assert "+++ v2/extra.md\n" in diff and "+y\n" in diff
    assert "--- v1/notes.md\n" in diff and "-x\n" in diff
    assert "--- v1/logo.bin\n+++ v2/logo.bin\nBinary file differs\n" in diff


def test_equal_bundles_have_no_diff() -> None:
    same = bundle(("SKILL.md", b"a\n"))
    assert bundle_diff(same, same, old_label="v1", new_label="v2") == ""


def test_a_last_line_without_newline_does_not_glue_onto_the_next_file() -> None:
    diff = text_diff("a", "b", old_label="x", new_label="y")
    assert diff.endswith("-a\n+b\n")


def test_lines_are_classified_for_colour() -> None:
    diff = text_diff("keep\nold\n", "keep\nnew\n", old_label="v1", new_label="v2")
    kinds = [(line.kind, line.text) for line in diff_lines(diff)]
    assert kinds == [
        ("file", "--- v1"),
        ("file", "+++ v2"),
        ("hunk", "@@ -1,2 +1,2 @@"),
        ("ctx", " keep"),
        ("del", "-old"),
        ("add", "+new"),
    ]

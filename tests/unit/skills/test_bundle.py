"""Bundles: every file of a skill folder, one content hash, paths confined to the folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evofuse.skills import Bundle, BundleError, BundleFile, read_bundle
from tests.unit.skills.conftest import write_skill


def test_reads_the_whole_tree_with_exec_bits(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "s", "d")
    (folder / "references").mkdir()
    (folder / "references" / "guide.md").write_text("guide")
    (folder / "scripts").mkdir()
    script = folder / "scripts" / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    (folder / "assets").mkdir()
    (folder / "assets" / "logo.png").write_bytes(bytes(range(256)))
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_bytes(b"junk")

    bundle, issues = read_bundle(folder)
    assert issues == [] and bundle is not None
    assert [(f.path, f.executable) for f in bundle.files] == [
        ("SKILL.md", False),
        ("assets/logo.png", False),
        ("references/guide.md", False),
        ("scripts/run.sh", True),
    ]
    assert bundle.files[1].data == bytes(range(256))


def test_hash_covers_paths_content_and_exec_bit_and_ignores_order() -> None:
    a = Bundle.of([BundleFile("SKILL.md", b"x"), BundleFile("r/a.md", b"1")])
    same = Bundle.of([BundleFile("r/a.md", b"1"), BundleFile("SKILL.md", b"x")])
    assert a.content_hash == same.content_hash
    assert a.content_hash.startswith("sha256:") and len(a.content_hash) == 71
    variants = [
        [BundleFile("SKILL.md", b"x"), BundleFile("r/a.md", b"2")],
        [BundleFile("SKILL.md", b"x"), BundleFile("r/b.md", b"1")],
        [BundleFile("SKILL.md", b"x"), BundleFile("r/a.md", b"1", executable=True)],
        [BundleFile("SKILL.md", b"x")],
        # Length-prefixed: moving bytes between a path and its content changes the hash.
        [BundleFile("SKILL.md", b"x"), BundleFile("r/a.m", b"d1")],
    ]
    hashes = {Bundle.of(files).content_hash for files in variants}
    assert len(hashes) == len(variants) and a.content_hash not in hashes


@pytest.mark.parametrize(
    "path", ["../x", "a/../../x", "/etc/passwd", "a\\b", "C:x", "a//b", "./a", ""]
)
def test_paths_outside_the_bundle_are_refused(path: str) -> None:
    with pytest.raises(BundleError):
        Bundle.of([BundleFile("SKILL.md", b"x"), BundleFile(path, b"1")])


def test_write_reproduces_bytes_and_refuses_escapes(tmp_path: Path) -> None:
    files = [BundleFile("SKILL.md", b"---\r\nname: s\r\n"), BundleFile("scripts/a.sh", b"#!", True)]
    Bundle.of(files).write(tmp_path / "out")
    assert (tmp_path / "out" / "SKILL.md").read_bytes() == b"---\r\nname: s\r\n"
    assert os.access(tmp_path / "out" / "scripts" / "a.sh", os.X_OK)
    evil = Bundle((BundleFile("../evil", b"x"),))  # built around Bundle.of's checks
    with pytest.raises(BundleError):
        evil.write(tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_symlink_out_of_the_folder_is_an_error(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not import me")
    folder = write_skill(tmp_path / "skills", "s", "d")
    (folder / "leak.txt").symlink_to(secret)
    (folder / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    bundle, issues = read_bundle(folder)
    assert bundle is None
    by_field = {i.field: i.message for i in issues}
    assert by_field["leak.txt"].startswith("is a symlink out of the skill folder")
    assert by_field["linked-dir"].startswith("is a symlink out of the skill folder")


def test_symlink_inside_the_folder_is_read_as_its_content(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "s", "d")
    (folder / "a.md").write_text("shared")
    (folder / "b.md").symlink_to(folder / "a.md")
    bundle, issues = read_bundle(folder)
    assert issues == [] and bundle is not None
    assert {f.path: f.data for f in bundle.files}["b.md"] == b"shared"


def test_missing_skill_md_is_reported(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "README.md").write_text("no skill here")
    bundle, issues = read_bundle(tmp_path / "s")
    assert bundle is None
    assert [(i.field, i.message) for i in issues] == [
        ("file", "missing: a skill folder needs a SKILL.md")
    ]

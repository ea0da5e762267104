"""Real-world skills (anthropics/skills, not written for EvoFuse): every one imports unchanged,
validates or is reported with a precise reason, is searchable, and exports byte for byte."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from evofuse.skills import ImportStatus, Library, export_skills, import_path, read_skill

# The repository's shared/ folder sits beside the clone (locally and in CI).
CORPUS = (
    Path(__file__).resolve().parents[3].parent / "shared" / "skill-corpus" / "anthropics-skills"
)

# The one departure from the Agent Skills specification in this corpus, reported as a warning.
EXPECTED_REPORT = {
    "claude-api": [
        ("warning", "description", "is 1068 characters; the specification allows at most 1024")
    ],
}


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not CORPUS.is_dir():
        reason = f"the skill corpus is missing at {CORPUS}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CORPUS


def files_of(folder: Path) -> dict[str, tuple[bytes, bool]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), bool(p.stat().st_mode & stat.S_IXUSR))
        for p in folder.rglob("*")
        if p.is_file()
    }


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0]


def test_every_corpus_skill_imports_validates_searches_and_exports(
    library: Library, corpus: Path, tmp_path: Path
) -> None:
    folders = sorted(p for p in corpus.iterdir() if (p / "SKILL.md").is_file())
    assert len(folders) == 12

    report = import_path(library, corpus)
    assert {Path(r.path).name: r.status for r in report.results} == {
        f.name: ImportStatus.CREATED for f in folders
    }
    reported = {
        Path(r.path).name: [(i.severity.value, i.field, i.message) for i in r.issues]
        for r in report.results
        if r.issues
    }
    assert reported == EXPECTED_REPORT
    assert all(str(r.issues[0]).startswith(r.path) for r in report.results if r.issues)

    for folder in folders:
        _, spec, _ = read_skill(folder)
        assert spec is not None
        hits = library.search(first_sentence(spec.description), k=3)
        assert hits[0].name == folder.name, (folder.name, hits)

    out = tmp_path / "export"
    export_skills(library, out)
    for folder in folders:
        assert files_of(out / folder.name) == files_of(folder), folder.name

    again = import_path(library, corpus)
    assert again.count(ImportStatus.UNCHANGED) == len(folders)

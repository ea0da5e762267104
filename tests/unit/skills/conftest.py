"""Fixtures for the skill library: a real SQL store, a real Chroma index, the real MiniLM model.

`chroma_location` is a folder here (embedded PersistentClient); the integration tests override
it with the URL of a `chroma run` server and run the same library tests against HttpClient.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evofuse.skills import Library, MiniLMEmbedder
from evofuse.skills.index import SkillIndex, chroma_client
from evofuse.store import Store
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)

REPO = Path(__file__).resolve().parents[3]
SEED_SKILLS = REPO / "skills"
DATA = Path(__file__).resolve().parent / "data"

MakeLibrary = Callable[..., Library]


def skill_md(name: str, description: str, body: str = "Do the thing.\n", extra: str = "") -> str:
    return f"---\nname: {name}\ndescription: {description}\n{extra}---\n{body}"


def write_skill(
    root: Path, name: str, description: str, body: str = "Do it.\n", extra: str = ""
) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(skill_md(name, description, body, extra), encoding="utf-8")
    return folder


@pytest.fixture
def chroma_location(tmp_path: Path) -> str:
    return str(tmp_path / "chroma")


@pytest.fixture
def make_library(database_url: str, chroma_location: str) -> Iterator[MakeLibrary]:  # noqa: F811
    """Open libraries on one database and one Chroma; a unique collection keeps runs apart."""
    collection = f"test-{uuid.uuid4().hex[:12]}"
    opened: list[Library] = []

    def make(*, sync: bool = True) -> Library:
        index = SkillIndex(chroma_client(chroma_location), MiniLMEmbedder(), collection)
        library = Library(Store(database_url), index, sync=sync)
        opened.append(library)
        return library

    yield make
    for library in opened:
        library.close()


@pytest.fixture
def library(make_library: MakeLibrary) -> Library:
    return make_library()

"""The seed library in skills/: valid, self-describing, and explicit about what it is not for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evofuse.skills import read_skill
from tests.unit.skills.conftest import SEED_SKILLS

FOLDERS = sorted(p for p in SEED_SKILLS.iterdir() if p.is_dir())


def test_there_are_at_least_ten_seed_skills() -> None:
    assert len(FOLDERS) >= 10


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_seed_skill_is_valid_and_well_described(folder: Path) -> None:
    bundle, spec, issues = read_skill(folder)
    assert bundle is not None and spec is not None
    assert issues == []  # not even a specification warning
    description = " ".join(spec.description.split())
    assert re.search(r"NOT for: [^.]+\.$", description), "must end with a 'NOT for: …' clause"
    assert re.search(r"\bUse (when|before|after)\b", description), "must say when to use it"
    assert spec.mode is not None
    assert len(spec.examples) >= 5
    assert len(spec.body.strip().splitlines()) >= 15
    for step in spec.steps:
        assert step.mode is not None, f"step {step.name} should choose its fusion mode"

"""Routing quality of the real embedded model over the seed library, on labelled tasks.

`selector_tasks.yaml` is the set the seed descriptions, examples, the threshold and the lexical
weight were tuned on; the five held-out sets were never used for it (each was committed before
the change it was first measured on), so they show how routing generalises.
The floors guard against regressions; the measured values at the time of writing are in the
comments.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evofuse.skills import Library, Origin, Selector, import_path
from tests.unit.skills.conftest import DATA, SEED_SKILLS


def load_tasks(name: str) -> list[dict[str, str | None]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        tasks: list[dict[str, str | None]] = yaml.safe_load(handle)["tasks"]
    return tasks


def scores(library: Library, tasks: list[dict[str, str | None]]) -> tuple[float, float]:
    """(hit@1 over tasks with a skill, precision of the "no skill" answers)."""
    selector = Selector(library, seed=0)
    picked = [
        (t["skill"], selector.select([{"role": "user", "content": t["task"]}]).name) for t in tasks
    ]
    positives = [(want, got) for want, got in picked if want is not None]
    hit_at_1 = sum(want == got for want, got in positives) / len(positives)
    none_answers = [want for want, got in picked if got is None]
    precision = sum(want is None for want in none_answers) / max(1, len(none_answers))
    return hit_at_1, precision


@pytest.fixture(params=["sqlite"])
def database_url(tmp_path: Path) -> str:  # quality does not depend on the SQL backend
    return f"sqlite:///{tmp_path}/evofuse.db"


def test_task_set_covers_every_seed_skill() -> None:
    tasks = load_tasks("selector_tasks.yaml")
    seeds = {p.name for p in SEED_SKILLS.iterdir()}
    assert {t["skill"] for t in tasks} - {None} == seeds
    assert sum(t["skill"] is not None for t in tasks) >= 40
    assert sum(t["skill"] is None for t in tasks) >= 10


# (task set, hit@1 floor, no-skill precision floor). Measured with the shipped default (cosine +
# 0.9 x BM25, cut 0.435): tuning 0.92 / 0.91; held-out 1-5: 0.87 / 0.60, 0.85 / 0.71,
# 0.85 / 0.53, 0.67 / 0.58, 0.83 / 0.71. The original configuration (cosine alone, cut 0.28,
# fewer examples) measured 0.76 / 0.67, 0.79 / 0.90, 0.60 / 0.40, 0.73 / 0.73, 0.90 / 0.89: the
# README's Skill Selector benchmark says what that comparison does and does not show.
FLOORS = [
    ("selector_tasks.yaml", 0.85, 0.85),
    ("selector_tasks_heldout.yaml", 0.8, 0.5),
    ("selector_tasks_heldout2.yaml", 0.78, 0.6),
    ("selector_tasks_heldout3.yaml", 0.75, 0.45),
    ("selector_tasks_heldout4.yaml", 0.55, 0.45),
    ("selector_tasks_heldout5.yaml", 0.75, 0.6),
]


@pytest.mark.parametrize(("name", "min_hit_at_1", "min_precision"), FLOORS)
def test_routing_quality_floors(
    library: Library, name: str, min_hit_at_1: float, min_precision: float
) -> None:
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    hit_at_1, precision = scores(library, load_tasks(name))
    assert hit_at_1 >= min_hit_at_1
    assert precision >= min_precision


@pytest.mark.parametrize("name", [f"selector_tasks_heldout{n}.yaml" for n in (2, 3, 4, 5)])
def test_later_held_out_sets_are_labelled_like_the_others(name: str) -> None:
    tasks = load_tasks(name)
    seeds = {p.name for p in SEED_SKILLS.iterdir()}
    assert {t["skill"] for t in tasks} - {None} == seeds
    assert sum(t["skill"] is None for t in tasks) >= 10

"""Routing quality of the real embedded model over the seed library, on labelled tasks.

`selector_tasks.yaml` is the set the seed descriptions, examples, the threshold and the lexical
weight were tuned on (its last 60 tasks were added after that fit); the four held-out sets were
never used for it, so they show how routing generalises (held-out 3 was committed before the
current examples and default were measured, held-out 4 after that).
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


def test_routing_quality_on_the_tuning_set(library: Library) -> None:
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    hit_at_1, precision = scores(library, load_tasks("selector_tasks.yaml"))
    assert hit_at_1 >= 0.85  # measured 0.90 (0.97 on the 134 tasks the default was fitted on)
    assert precision >= 0.8  # measured 0.88


def test_routing_quality_on_held_out_tasks(library: Library) -> None:
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    hit_at_1, precision = scores(library, load_tasks("selector_tasks_heldout.yaml"))
    assert hit_at_1 >= 0.8  # measured 0.85
    assert precision >= 0.55  # measured 0.64: too many tasks that have a skill get none


def test_routing_quality_on_the_second_held_out_set(library: Library) -> None:
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    hit_at_1, precision = scores(library, load_tasks("selector_tasks_heldout2.yaml"))
    assert hit_at_1 >= 0.8  # measured 0.88
    assert precision >= 0.7  # measured 0.77


def test_routing_quality_on_the_third_held_out_set(library: Library) -> None:
    # Written and committed before the current seed examples and default were measured on any
    # held-out set; never tuned on. With the previous ones it measured 0.60 and 0.40.
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    hit_at_1, precision = scores(library, load_tasks("selector_tasks_heldout3.yaml"))
    assert hit_at_1 >= 0.75  # measured 0.83, below the 0.85 target
    assert precision >= 0.55  # measured 0.62


def test_routing_quality_on_the_fourth_held_out_set(library: Library) -> None:
    # Written and committed after the current default was measured on held-out 1-3, before it
    # was measured here; never tuned on. With the previous default it measured 0.73 and 0.73.
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    hit_at_1, precision = scores(library, load_tasks("selector_tasks_heldout4.yaml"))
    assert hit_at_1 >= 0.55  # measured 0.65, far below the 0.85 target
    assert precision >= 0.45  # measured 0.53


@pytest.mark.parametrize("name", [f"selector_tasks_heldout{n}.yaml" for n in (2, 3, 4)])
def test_later_held_out_sets_are_labelled_like_the_others(name: str) -> None:
    tasks = load_tasks(name)
    seeds = {p.name for p in SEED_SKILLS.iterdir()}
    assert {t["skill"] for t in tasks} - {None} == seeds
    assert sum(t["skill"] is None for t in tasks) >= 10

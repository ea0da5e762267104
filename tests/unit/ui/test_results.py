"""The quality page's results: what benchmarks/learning.py writes, or nothing at all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from evofuse.config import load_settings
from evofuse.ui.results import listed, load_results
from tests.unit.test_config import base_config, write

REPO = Path(__file__).resolve().parents[3]
LEARNING = REPO / "benchmarks" / "results" / "learning.json"


def test_a_missing_or_empty_folder_has_no_results(tmp_path: Path) -> None:
    assert load_results(tmp_path / "missing").empty
    assert load_results(tmp_path).empty


def test_the_learning_benchmarks_results_become_tables(tmp_path: Path) -> None:
    shutil.copy(LEARNING, tmp_path / "learning.json")
    results = load_results(tmp_path)
    assert results.problem is None
    honest, liars = results.learning
    assert honest.label == "honest raters" and liars.label == "5% lying raters"
    policies = [policy for policy, _ in honest.rows]
    assert policies == ["evofuse", "per-user", "global mean", "random", "oracle"]
    assert honest.metrics[0] == "new user's success (first 10 runs)"
    summary = json.loads(LEARNING.read_text())["honest"]["summary"]["evofuse"]
    mean, half = summary["new_user_success"]
    assert honest.rows[0][1][0] == f"{mean:.3f} ± {half:.3g}"
    assert results.learning_facts["users"] == 100


def test_only_result_files_directly_in_the_folder_are_listed(tmp_path: Path) -> None:
    (tmp_path / "figure.png").write_bytes(b"\x89PNG")
    (tmp_path / "numbers.json").write_text("{}")
    (tmp_path / ".hidden.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.png").write_bytes(b"x")
    assert [f.name for f in listed(tmp_path)] == ["figure.png", "numbers.json"]


def test_a_broken_learning_file_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "learning.json").write_text('{"honest": {}}')
    results = load_results(tmp_path)
    assert not results.empty and results.learning == []
    assert results.problem and "learning.json could not be read" in results.problem


def test_results_dir_is_the_config_files_folder_s_and_may_be_set(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, base_config())).ui.results_dir == (
        tmp_path / "benchmarks" / "results"
    )
    data = {**base_config(), "ui": {"results_dir": "../shared/results"}}
    settings = load_settings(write(tmp_path, data))
    assert settings.ui.results_dir == tmp_path.parent / "shared" / "results"

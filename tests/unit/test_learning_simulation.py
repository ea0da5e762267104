"""The collective-learning simulation (benchmarks/learning.py) at a small size: real properties."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def learning() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module("learning")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def result(learning: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cfg = learning.Config(users=12, tenants=2, cycle_every=40)
    out: dict[str, Any] = learning.simulate(cfg, 7, tmp_path_factory.mktemp("learning"))
    return out


def test_every_policy_reports_the_documented_metrics(
    learning: ModuleType, result: dict[str, Any]
) -> None:
    assert set(result) == set(learning.POLICIES)
    runs = result["oracle"]["runs"]
    for metrics in result.values():
        assert metrics["runs"] == runs > 100
        assert 0 < metrics["new_user_success"] <= 1 and metrics["new_users"] > 0
        assert 0 <= metrics["switch_runs"] <= metrics["runs_after_release"]
        assert metrics["switched"] == (metrics["switch_runs"] < metrics["runs_after_release"])
        assert all(0 <= share <= 1 for share in metrics["share_curve"])
        curve = metrics["regret_curve"]
        assert curve == sorted(curve) and curve[-1] == pytest.approx(metrics["regret"])
    assert isinstance(result["evofuse"]["canary"], list)


def test_the_oracle_has_no_regret_and_random_choice_has_some(result: dict[str, Any]) -> None:
    assert result["oracle"]["regret"] == 0
    assert result["random"]["regret"] > 0
    # Served the best version for every run, the oracle's expected success bounds everyone's.
    best = result["oracle"]["mean_success"]
    assert all(m["mean_success"] <= best + 1e-12 for m in result.values())
    # It moves to the released (better everywhere) version at once.
    assert result["oracle"]["share_new_at_end"] == 1.0


def test_the_world_is_reproducible_and_liars_are_a_share_of_users(learning: ModuleType) -> None:
    cfg = learning.Config(users=400, liars=0.05)
    a, b = learning.make_world(cfg, 3), learning.make_world(cfg, 3)
    assert [r.draw for r in a.runs[:50]] == [r.draw for r in b.runs[:50]]
    assert 0.02 < a.liar.mean() < 0.08
    assert (a.p[0, cfg.versions] > a.p[0, : cfg.versions].max(axis=0)).all()  # better everywhere


def test_the_summary_is_a_mean_and_a_95_percent_half_width(learning: ModuleType) -> None:
    mean, half = learning.interval([1.0, 1.0, 1.0])
    assert (mean, half) == (1.0, 0.0)
    mean, half = learning.interval([0.0, 1.0])
    assert mean == 0.5 and half == pytest.approx(12.706 * 0.7071 / 1.4142, rel=1e-3)

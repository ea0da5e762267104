"""Wilson intervals and McNemar's exact test against published reference values."""

from __future__ import annotations

import pytest

from evofuse.eval.stats import mcnemar_exact, percentile, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # statsmodels.stats.proportion.proportion_confint(k, n, method="wilson")
        (8, 10, 0.490162, 0.943318),
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),
        (50, 100, 0.403832, 0.596168),
        (1, 20, 0.008879, 0.236130),
    ],
)
def test_wilson_interval_matches_reference_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=1e-5)


def test_wilson_interval_edge_cases() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
    narrow, wide = wilson_interval(80, 100), wilson_interval(8, 10)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


@pytest.mark.parametrize(
    ("wins", "losses", "p"),
    [
        # 2 * P(X <= min) for X ~ Binomial(wins + losses, 1/2), capped at 1
        # (statsmodels mcnemar(table, exact=True) gives the same numbers)
        (1, 9, 22 / 1024),
        (9, 1, 22 / 1024),
        (0, 6, 2 / 64),
        (5, 5, 1.0),
        (0, 0, 1.0),
        (3, 12, 0.0351562),
        (0, 1, 1.0),
    ],
)
def test_mcnemar_exact_matches_the_binomial_tail(wins: int, losses: int, p: float) -> None:
    assert mcnemar_exact(wins, losses) == pytest.approx(p, abs=1e-6)


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)

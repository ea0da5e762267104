"""The success plot's layout: one point per version and day, on the right scale."""

from __future__ import annotations

from evofuse.ui.plot import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, success_plot


def test_points_follow_days_and_scores() -> None:
    plot = success_plot(
        [(10, 1), (11, 2)],
        [
            (10, "2026-01-01", 3, 0.0),
            (10, "2026-01-03", 1, 1.0),
            (11, "2026-01-02", 2, 0.5),
        ],
    )
    assert plot.points == 3
    first, second = plot.series
    assert (first.version, second.version) == (1, 2)
    start, end = first.points
    assert start.x == LEFT and end.x == WIDTH - RIGHT  # first and last day span the width
    assert start.y == HEIGHT - BOTTOM and end.y == TOP  # 0 at the bottom, 1 at the top
    assert second.points[0].x == (LEFT + WIDTH - RIGHT) / 2  # the middle day
    assert first.path == f"{start.x:.1f},{start.y:.1f} {end.x:.1f},{end.y:.1f}"
    assert [t.label for t in plot.x_ticks] == ["01-01", "01-02", "01-03"]


def test_a_single_day_sits_in_the_middle() -> None:
    plot = success_plot([(1, 1)], [(1, "2026-05-05", 4, 0.75)])
    (point,) = plot.series[0].points
    assert point.x == LEFT + (WIDTH - LEFT - RIGHT) / 2
    assert (point.outcomes, point.mean) == (4, 0.75)


def test_outcomes_of_unknown_versions_are_ignored_and_colours_cycle() -> None:
    versions = [(i, i) for i in range(1, 11)]
    daily = [(i, "2026-02-01", 1, 0.5) for i in range(1, 12)]  # 11 is not a version here
    plot = success_plot(versions, daily)
    assert len(plot.series) == 10
    assert {s.colour for s in plot.series} == set(range(8))


def test_no_outcomes_no_points() -> None:
    plot = success_plot([(1, 1)], [])
    assert plot.points == 0 and plot.series == [] and plot.x_ticks == []

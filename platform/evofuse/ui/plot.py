"""Success over time per skill version, laid out for a server-rendered SVG (no chart library).

One point per version and day with outcomes: the day's mean outcome score (judge verdicts and
user ratings, in [0, 1]); each version is a line through its points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 36  # margins for the axes' labels
PALETTE_SIZE = 8  # series colours are CSS classes s0..s7 (static/ui.css)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    day: str
    outcomes: int
    mean: float


@dataclass
class Series:
    version: int
    colour: int
    points: list[Point] = field(default_factory=list)

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Plot:
    width: int
    height: int
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def points(self) -> int:
        return sum(len(s.points) for s in self.series)


def success_plot(
    versions: Sequence[tuple[int, int]], daily: Sequence[tuple[int, str, int, float]]
) -> Plot:
    """`versions`: (version row id, version number); `daily`: (row id, day, outcomes, mean)."""
    number = dict(versions)
    days = sorted({day for _, day, _, _ in daily})
    first = date.fromisoformat(days[0]) if days else date.today()
    span = max((date.fromisoformat(days[-1]) - first).days, 1) if days else 1
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: str) -> float:
        offset = (date.fromisoformat(day) - first).days
        # A single day sits in the middle rather than on the axis.
        return LEFT + (inner_w / 2 if len(days) == 1 else inner_w * offset / span)

    def y(score: float) -> float:
        return TOP + inner_h * (1.0 - score)

    by_version: dict[int, Series] = {}
    for row_id, day, outcomes, mean in daily:
        if row_id not in number:
            continue
        series = by_version.setdefault(
            row_id, Series(number[row_id], len(by_version) % PALETTE_SIZE)
        )
        series.points.append(Point(x(day), y(mean), day, outcomes, round(mean, 3)))
    series_list = sorted(by_version.values(), key=lambda s: s.version)
    step = max(1, len(days) // 6)  # at most about seven date labels
    x_ticks = [Tick(x(day), day[5:]) for day in days[::step]]
    y_ticks = [Tick(y(v), f"{v:.0%}") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return Plot(WIDTH, HEIGHT, series_list, x_ticks, y_ticks)

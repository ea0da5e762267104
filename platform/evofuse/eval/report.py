"""The result of an evaluation: per arm accuracy with its 95 % interval, the paired comparison
with the best single member, cost, calls, latency and the tasks it got wrong; and its table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from evofuse.eval.stats import mcnemar_exact, percentile, wilson_interval

if TYPE_CHECKING:
    from rich.console import Console

    from evofuse.eval.harness import Attempt


class Comparison(BaseModel):
    """Paired comparison with the baseline over the same tasks (exact McNemar test)."""

    baseline: str
    wins: int  # tasks this arm got right and the baseline wrong
    losses: int  # tasks the baseline got right and this arm wrong
    p_value: float


class ArmSummary(BaseModel):
    arm: str  # `single:<model>` or a mode
    mode: str
    model: str | None = None
    tasks: int
    correct: int
    accuracy: float
    ci95: tuple[float, float]  # Wilson score interval of the accuracy
    vs_baseline: Comparison | None = None
    cost_usd: float | None  # total; None when some call's price is unknown
    calls: int
    calls_per_task: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    errors: int  # tasks where the step failed outright (counted as wrong)
    wrong: list[str]  # task ids answered wrongly (or not at all)
    chosen_modes: dict[str, int] = Field(default_factory=dict)  # `auto`: how often each mode ran


class EvalReport(BaseModel):
    suite: str
    profile: str
    seed: int
    tasks: int
    concurrency: int
    duration_s: float
    baseline: str | None  # the best `single:<model>` arm, None when `single` was not run
    arms: list[ArmSummary]


def summarize(
    *,
    suite: str,
    profile: str,
    seed: int,
    arms: Sequence[tuple[str, str, str | None]],
    attempts: Mapping[str, Sequence[Attempt]],
    duration_s: float,
    concurrency: int,
) -> EvalReport:
    """Build the report; the baseline is the most accurate single member (then the cheaper,
    then the one listed first)."""
    summaries = [_summary(name, mode, model, attempts[name]) for name, mode, model in arms]
    singles = [s for s in summaries if s.mode == "single"]
    baseline = (
        max(
            singles,
            key=lambda s: (s.correct, -(s.cost_usd or 0.0), -singles.index(s)),
        )
        if singles
        else None
    )
    if baseline is not None:
        right = {a.item.id for a in attempts[baseline.arm] if a.correct}
        for summary in summaries:
            if summary is baseline:
                continue
            mine = {a.item.id for a in attempts[summary.arm] if a.correct}
            wins, losses = len(mine - right), len(right - mine)
            summary.vs_baseline = Comparison(
                baseline=baseline.arm,
                wins=wins,
                losses=losses,
                p_value=round(mcnemar_exact(wins, losses), 6),
            )
    tasks = max((len(v) for v in attempts.values()), default=0)
    return EvalReport(
        suite=suite,
        profile=profile,
        seed=seed,
        tasks=tasks,
        concurrency=concurrency,
        duration_s=round(duration_s, 3),
        baseline=baseline.arm if baseline else None,
        arms=summaries,
    )


def _summary(arm: str, mode: str, model: str | None, rows: Sequence[Attempt]) -> ArmSummary:
    correct = sum(a.correct for a in rows)
    costs = [a.cost_usd for a in rows]
    latencies = [a.latency_ms for a in rows if a.error is None]
    low, high = wilson_interval(correct, len(rows))
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    calls = sum(a.calls for a in rows)
    return ArmSummary(
        arm=arm,
        mode=mode,
        model=model,
        tasks=len(rows),
        correct=correct,
        accuracy=round(correct / len(rows), 6) if rows else 0.0,
        ci95=(round(low, 6), round(high, 6)),
        cost_usd=None if any(c is None for c in costs) else round(sum(c or 0.0 for c in costs), 8),
        calls=calls,
        calls_per_task=round(calls / len(rows), 3) if rows else 0.0,
        latency_ms_p50=None if p50 is None else round(p50, 1),
        latency_ms_p95=None if p95 is None else round(p95, 1),
        errors=sum(a.error is not None for a in rows),
        wrong=[a.item.id for a in rows if not a.correct],
        chosen_modes=dict(Counter(a.mode for a in rows)) if mode == "auto" else {},
    )


def render(report: EvalReport, console: Console, *, max_wrong: int = 12) -> None:
    """The report as a Rich table, then each arm's wrong task ids."""
    from rich.table import Table

    table = Table(
        title=f"{report.suite}: {report.tasks} tasks, profile {report.profile}, seed {report.seed}",
        title_justify="left",
    )
    for column in ("arm", "accuracy (95% CI)", f"vs {report.baseline or '-'}", "cost $", "calls"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    table.add_column("p50 / p95 ms", justify="right")
    table.add_column("errors", justify="right")
    for s in report.arms:
        versus = "baseline" if s.arm == report.baseline else "-"
        if s.vs_baseline is not None:
            versus = f"+{s.vs_baseline.wins} -{s.vs_baseline.losses} p={s.vs_baseline.p_value:.3g}"
        latency = (
            "-"
            if s.latency_ms_p50 is None
            else f"{s.latency_ms_p50:,.0f} / {s.latency_ms_p95 or 0:,.0f}"
        )
        name = s.arm
        if s.chosen_modes:
            name += " (" + ", ".join(f"{m} {n}" for m, n in sorted(s.chosen_modes.items())) + ")"
        table.add_row(
            name,
            f"{s.accuracy:.1%} [{s.ci95[0]:.1%}, {s.ci95[1]:.1%}]",
            versus,
            "unknown" if s.cost_usd is None else f"{s.cost_usd:.4f}",
            f"{s.calls} ({s.calls_per_task:g}/task)",
            latency,
            str(s.errors),
        )
    console.print(table)
    for s in report.arms:
        if s.wrong:
            shown = ", ".join(s.wrong[:max_wrong])
            more = f" and {len(s.wrong) - max_wrong} more" if len(s.wrong) > max_wrong else ""
            console.print(f"[dim]{s.arm} wrong:[/] {shown}{more}", highlight=False)

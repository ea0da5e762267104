"""Rich views of a fusion step: live while it runs, a summary when it is done.

Everything goes to stderr except the answer itself, so `evofuse fuse … > answer.txt` works.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from evofuse.fusion import (
    AnswerDelta,
    AnswerReset,
    CandidateResult,
    Finished,
    FusionEvent,
    FusionResult,
    JudgeStarted,
    MemberFinished,
    RoundStarted,
)

_STATUS_STYLE = {"ok": "green", "error": "red", "timeout": "yellow", "cancelled": "dim"}


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.6f}"


class FusionLiveView:
    """Shows members as they finish, then the judge, then the answer as it streams."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.out = Console()  # the answer goes to stdout
        self.round = 0
        self.pending: list[str] = []
        self.finished: list[CandidateResult] = []
        self.judge: str | None = None
        self.answer = ""
        self.result: FusionResult | None = None
        self._live = Live(
            self._render(), console=self.console, refresh_per_second=8, transient=True
        )

    def __enter__(self) -> FusionLiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def update(self, event: FusionEvent) -> None:
        match event:
            case RoundStarted(round=round_, models=models):
                self.round, self.pending = round_, list(models)
            case MemberFinished(candidate=candidate):
                self.finished.append(candidate)
                if candidate.model in self.pending:
                    self.pending.remove(candidate.model)
            case JudgeStarted(model=model):
                self.judge = model
            case AnswerDelta(text=text):
                self.answer += text
            case AnswerReset():
                self.answer = ""
            case Finished(result=result):
                self.result = result
        self._live.update(self._render())

    def _render(self) -> Group:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("round", "member", "status", "latency", "tokens in/out", "cost"):
            table.add_column(column)
        for c in self.finished:
            style = _STATUS_STYLE[c.status]
            table.add_row(
                str(c.round),
                c.model,
                Text(c.status, style=style),
                f"{c.latency_ms:.0f} ms",
                f"{c.prompt_tokens}/{c.completion_tokens}",
                _money(c.cost_usd),
            )
        for model in self.pending:
            table.add_row(str(self.round), model, Spinner("dots", text="answering…"), "", "", "")
        parts: list[object] = [table]
        if self.judge:
            parts.append(Spinner("dots", text=f"judge {self.judge} is deciding…"))
        if self.answer:
            parts.append(Panel(Text(self.answer[-2000:]), title="answer (streaming)"))
        return Group(*parts)  # type: ignore[arg-type]

    def print_summary(self) -> None:
        assert self.result is not None
        print_result(self.result, self.console, self.out)


def print_result(result: FusionResult, console: Console, out: Console) -> None:
    """The verdict, the cost table and the answer."""
    verdict = result.judge
    title = f"{result.mode.value} · profile {result.profile}"
    lines = []
    if verdict.status == "ok":
        scores = ", ".join(f"{s.model} {s.score:g}" for s in verdict.scores) or "none given"
        lines.append(
            f"[bold]Judge[/] {verdict.model}: winner [bold]{verdict.winner}[/]; scores: {scores}"
        )
        if verdict.rationale:
            lines.append(f"[italic]{verdict.rationale}[/]")
    elif verdict.fallback_rule:
        lines.append(
            f"[yellow]No judge decided; {verdict.winner} picked by rule: {verdict.fallback_rule}[/]"
        )
    for reason in result.degraded_reasons:
        lines.append(f"[yellow]degraded:[/] {reason}")
    if lines:
        console.print(Panel("\n".join(lines), title=title, expand=False))
    console.print(cost_table(result))
    out.print(Markdown(result.content))


def cost_table(result: FusionResult) -> Table:
    table = Table(title="Calls", header_style="bold")
    for column in ("call", "status", "latency", "prompt tok", "completion tok", "cost", "error"):
        table.add_column(column, overflow="fold")
    for c in result.candidates:
        table.add_row(
            c.model,
            Text(c.status, style=_STATUS_STYLE[c.status]),
            f"{c.latency_ms:.0f} ms",
            str(c.prompt_tokens),
            str(c.completion_tokens),
            _money(c.cost_usd),
            (c.error or "")[:120],
        )
    j = result.judge
    if j.status != "skipped":
        table.add_row(
            f"judge {j.model}",
            Text(j.status, style="green" if j.status == "ok" else "red"),
            f"{j.latency_ms:.0f} ms",
            str(j.prompt_tokens),
            str(j.completion_tokens),
            _money(j.cost_usd),
            (j.error or "")[:120],
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        f"{result.latency_ms:.0f} ms",
        str(result.prompt_tokens),
        str(result.completion_tokens),
        _money(result.cost_usd),
        "",
    )
    return table

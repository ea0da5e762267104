"""`evofuse demo`: one readable fusion of a fixed question with the configured default profile."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from evofuse.cli.options import ConfigOption, load

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

    from evofuse.cli.run import RunLiveView
    from evofuse.config import Settings
    from evofuse.fusion import CandidateResult, FusionEngine, FusionResult
    from evofuse.llm import Message
    from evofuse.runtime.runner import RunResult
    from evofuse.services import Services

QUESTION = "Why is the sky blue? Answer in three sentences."
AGENT_TASK = (
    "Write a git commit message for this change: the search results pager skipped the last "
    "page because of an off-by-one error in the page count."
)
_SAMPLING_KEYS = ("temperature", "top_p", "seed")


def demo(config: ConfigOption = None) -> None:
    """Run one fusion, an agent run and an evolution cycle, and show every step.

    With the default evofuse.yaml it needs no API key and no network: it
    starts the embedded local model. Part one prints the members' answers
    side by side, the judge's verdict, the fused answer, and latency,
    tokens and cost per call. Part two runs the `assistant` graph on a
    task: the skill the Selector chose and why, each step's fusion, and
    where the run was recorded. Part three lets simulated users rate runs
    and runs one evolution cycle: what was proposed, what the gate decided.
    """
    from rich.console import Console

    from evofuse.fusion import FusionEngine
    from evofuse.localmodel import local_model_running

    settings = load(config)
    console = Console()
    engine = FusionEngine(settings)
    profile_name, profile = engine.resolve_profile(None)
    console.rule(f"[bold]EvoFuse demo[/] · profile {profile_name} · mode {profile.mode.value}")
    console.print(f"[bold]Question:[/] {QUESTION}\n", highlight=False)
    with local_model_running(settings.local_model):
        # Import LiteLLM and build its router before the clock starts, so the latencies shown
        # are the models' and not a one-time 4-5 s import.
        with Console(stderr=True).status("Loading LiteLLM…"):
            engine.gateway.warm_up()
        started = time.perf_counter()
        result = asyncio.run(_fuse(engine, [{"role": "user", "content": QUESTION}]))
        wall_s = time.perf_counter() - started
        _print(console, settings, result, wall_s)
        _agent_run(console, settings)
        _evolution_round(console, settings)


def _evolution_round(console: Console, settings: Settings) -> None:
    """Part three: simulated users rate runs poorly, then one evolution cycle reports."""
    from rich.markup import escape

    from evofuse.cli.evolve import render
    from evofuse.evolution.demo import (
        DEMO_COMMENT,
        DEMO_TASKS,
        DEMO_USERS,
        DemoRun,
        simulate_and_evolve,
    )
    from evofuse.services import Services

    users, per_user = DEMO_USERS[:3], 2
    console.rule("[bold]6. Collective evolution[/] (simulated users rate runs, then one cycle)")
    console.print(
        f"{len(users)} users each run {per_user} commit-message tasks and rate the answers "
        f"0.2 with the comment {DEMO_COMMENT!r}. Each user's second run is held out: the "
        "Evolver never sees it, the gate replays it. Then evolution proposes a patch (asked "
        "for with a JSON schema, so even the 135M model answers in shape), gates it and, if it "
        "wins the replay, publishes it as a canary.",
        highlight=False,
    )

    def show(run: DemoRun) -> None:
        console.print(
            f"  {run.user}: run {run.run_id[:8]} with {run.skill} rated 0.2", highlight=False
        )

    services = Services.from_settings(settings)
    try:
        _, report = asyncio.run(
            simulate_and_evolve(
                services,
                users=users,
                tasks=DEMO_TASKS,
                per_user=per_user,
                on_run=show,
                # Short answers keep the cycle to minutes on a 135M CPU model.
                max_tokens=160,
                evolution={"replay_tasks": 2, "max_tokens": 512},
            )
        )
    finally:
        services.close()
    render(console, report)
    console.print(escape(f"Full report: evofuse evolve show {report.id}"), highlight=False)


def _agent_run(console: Console, settings: Settings) -> None:
    """Part two: the assistant graph with skill selection, fused steps and a recorded run."""
    from rich.console import Console
    from rich.markup import escape

    from evofuse.cli.run import RunLiveView
    from evofuse.services import Services

    console.rule("[bold]5. An agent run[/] (graph `assistant`: select a skill, run its steps)")
    console.print(f"[bold]Task:[/] {escape(AGENT_TASK)}\n", highlight=False)
    services = Services.from_settings(settings)
    try:
        with Console(stderr=True).status("Opening the skill library (imports skills/ once)…"):
            _ = services.selector
        view = RunLiveView()
        with view:
            result = asyncio.run(_run_agent(services, view))
    finally:
        services.close()
    if result.skill:
        # The Selector's own account of its choice, as the run recorded it.
        console.print(
            f"[bold]Selector:[/] {escape(str(result.skill.get('name')))} "
            f"(score {result.skill.get('score', 0.0):.2f}): "
            f"{escape(str(result.skill.get('reason') or ''))}",
            highlight=False,
        )
    for step in result.steps:
        fusion = step.fusion
        ok = sum(c.status == "ok" for c in fusion.candidates)
        console.print(
            f"  step {step.index + 1} [bold]{escape(step.name)}[/] · {step.mode} · "
            f"{ok}/{len(fusion.candidates)} members answered · "
            f"judge: {fusion.judge.status} (winner {fusion.judge.winner}) · "
            f"{fusion.latency_ms:.0f} ms",
            highlight=False,
        )
    view.print_result(result, settings.storage.database_url)


async def _run_agent(services: Services, view: RunLiveView) -> RunResult:
    from evofuse.options import FusionOptions, ModelSettings

    async with services.runner() as runner:
        # Short completions keep the demo's multi-step run to a minute on a 135M CPU model.
        return await runner.run(
            "assistant",
            AGENT_TASK,
            user="demo-user",
            options=FusionOptions(sampling=ModelSettings(max_tokens=160)),
            on_event=view.update,
        )


async def _fuse(engine: FusionEngine, messages: list[Message]) -> FusionResult:
    from evofuse.cli.render import FusionLiveView

    view = FusionLiveView()
    with view:
        async for event in engine.events(messages):
            view.update(event)
    assert view.result is not None
    return view.result


def _print(console: Console, settings: Settings, result: FusionResult, wall_s: float) -> None:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from evofuse.cli.render import cost_table

    scores = {s.model: s for s in result.judge.scores}
    answers = Table.grid(expand=True, padding=(0, 1))
    panels: list[RenderableType] = []
    for candidate in result.candidates:
        answers.add_column(ratio=1)
        score = scores.get(candidate.model)
        title = candidate.model + (f" · score {score.score:g}" if score else "")
        if candidate.model == result.judge.winner:
            title = f"[bold green]{title} · winner[/]"
        panels.append(
            Panel(
                _candidate_body(candidate),
                title=title,
                subtitle=_sampling(settings, candidate.model),
                border_style="green" if candidate.status == "ok" else "red",
            )
        )
    answers.add_row(*panels)
    console.rule("[bold]1. The pool's answers[/] (each model sees only the question)")
    console.print(answers)

    console.rule("[bold]2. The judge's verdict[/] (answers anonymized and shuffled)")
    console.print(_verdict(result))

    console.rule("[bold]3. The fused answer[/]")
    console.print(Panel(Text(result.content.strip()), border_style="bold cyan", expand=False))

    console.rule("[bold]4. Latency, tokens and cost[/]")
    console.print(cost_table(result))
    cost_note = (
        "cost unknown (a model of the pool has no known price; a local one costs nothing)"
        if result.cost_usd is None
        else f"cost ${result.cost_usd:.6f}"
    )
    console.print(
        f"Wall time {wall_s:.1f} s · {result.prompt_tokens} prompt + "
        f"{result.completion_tokens} completion tokens · {cost_note}",
        highlight=False,
    )


def _candidate_body(candidate: CandidateResult) -> Text:
    from rich.text import Text

    # Text, not markup: a model's answer may contain [brackets] that Rich would swallow.
    if candidate.status != "ok":
        return Text(f"{candidate.status}: {candidate.error or ''}", style="red")
    return Text((candidate.content or "").strip())


def _sampling(settings: Settings, model_name: str) -> str:
    params = next(d.litellm_params for d in settings.model_list if d.model_name == model_name)
    return " ".join(f"{key} {params[key]}" for key in _SAMPLING_KEYS if key in params)


def _verdict(result: FusionResult) -> RenderableType:
    from rich.markup import escape
    from rich.panel import Panel

    judge = result.judge
    lines: list[str] = []
    if judge.status == "ok":
        lines.append(
            f"Judge [bold]{judge.model}[/] picked [bold]{judge.winner}[/] as the best answer."
        )
    elif judge.fallback_rule:
        lines.append(
            f"[yellow]No judge could decide; [bold]{judge.winner}[/] was picked by rule: "
            f"{judge.fallback_rule}.[/]"
        )
    else:
        lines.append(f"Only one member answered: [bold]{judge.winner}[/].")
    if judge.order:
        labels = ", ".join(f"{chr(65 + i)} = {model}" for i, model in enumerate(judge.order))
        lines.append(f"The judge saw: {labels} (shuffle seed {judge.seed}).")
    if judge.scores:
        lines.append("Scores (0-10): " + ", ".join(f"{s.model} {s.score:g}" for s in judge.scores))
    if judge.rationale:
        lines.append(f"Rationale: [italic]{escape(judge.rationale)}[/]")
    for reason in result.degraded_reasons:
        lines.append(f"[yellow]Degraded:[/] {escape(reason)}")
    return Panel("\n".join(lines), expand=False)

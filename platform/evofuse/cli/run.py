"""`evofuse run GRAPH TASK` and `evofuse runs list|show`."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from evofuse.cli.options import ConfigOption, JsonOption, fusion_options, load

if TYPE_CHECKING:
    from evofuse.options import FusionOptions
    from evofuse.runtime.runner import RunResult
    from evofuse.services import Services

runs_app = typer.Typer(help="Inspect recorded runs.", no_args_is_help=True)


def run(
    graph: Annotated[str, typer.Argument(help="Graph id from the registry (langgraph.json).")],
    task: Annotated[str, typer.Argument(help="The task / user message. Use - to read stdin.")],
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="End-user id (stored only as a keyed hash).")
    ] = None,
    thread: Annotated[
        str | None, typer.Option("--thread", "-t", help="Continue this conversation thread.")
    ] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", "-m", help="Force a fusion mode for every step.")
    ] = None,
    profile: Annotated[str | None, typer.Option("--profile", "-p", help="Fusion profile.")] = None,
    skill: Annotated[
        str | None, typer.Option("--skill", help="Use this skill instead of asking the Selector.")
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Run an agent graph on a task: skill selection, fused steps, a recorded run.

    Shows the chosen skill, each step and each pool member as it finishes, then the answer and
    where the run was recorded. With --json, prints the answer and the run's `evofuse` object.
    """
    from evofuse.llm import preload_in_background

    # LiteLLM's import (seconds) overlaps the database, the graph and the skill selection; the
    # fused steps wait for the warm gateway before their members' timers start.
    preload_in_background()
    from evofuse.localmodel import local_model_running
    from evofuse.services import Services

    settings = load(config)
    if task == "-":
        task = sys.stdin.read()
    _check_task(task, user, settings.api.max_message_chars)
    services = Services.from_settings(settings)
    services.engine.gateway.start_warm_up()
    run = RunRequest(user, thread, skill, fusion_options(profile=profile, mode=mode))
    try:
        with local_model_running(settings.local_model, quiet=as_json):
            if as_json:
                result = asyncio.run(_run(services, graph, task, run, None))
                document = {"content": result.answer, "evofuse": result.evofuse_object()}
                sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
                return
            view = RunLiveView()
            with view:
                result = asyncio.run(_run(services, graph, task, run, view.update))
            view.print_result(result, settings.storage.database_url)
    finally:
        services.close()


def _check_task(task: str, user: str | None, max_chars: int) -> None:
    """The same checks as the API's, before anything is recorded (a UserError otherwise)."""
    from evofuse.errors import UserError
    from evofuse.textcheck import check_text

    check_text(task, "The task")
    if user is not None:
        check_text(user, "--user")
    if len(task) > max_chars:
        raise UserError(
            f"The task has {len(task)} characters; the limit is {max_chars} "
            "(api.max_message_chars).",
            hint="Shorten the task, or raise api.max_message_chars in the configuration.",
        )


@dataclass(frozen=True)
class RunRequest:
    """What `evofuse run`'s flags ask for besides the graph and the task."""

    user: str | None
    thread_id: str | None
    skill: str | None
    options: FusionOptions


async def _run(
    services: Services, graph: str, task: str, request: RunRequest, on_event: Any
) -> RunResult:
    await asyncio.to_thread(services.mark_interrupted_runs)  # runs a dead `run` left open
    async with services.runner() as runner:
        return await runner.run(
            graph,
            task,
            options=request.options,
            on_event=on_event,
            user=request.user,
            thread_id=request.thread_id,
            skill=request.skill,
        )


class RunLiveView:
    """Skill, steps and members as they happen (stderr); the answer goes to stdout at the end."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.skill: str = "selecting a skill…"
        self.steps: list[dict[str, Any]] = []
        self.answer = ""
        self._live = Live(
            self._render(), console=self.console, refresh_per_second=8, transient=True
        )

    def __enter__(self) -> RunLiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)
        for step in self.steps:  # keep a record of the progress once the live view is gone
            self.console.print(self._step_line(step, done=True))

    def update(self, chunk: dict[str, Any]) -> None:
        from evofuse.runtime.events import parse_event

        event = parse_event(chunk)
        if event is None:
            return  # a chunk of the graph's own, not EvoFuse's progress
        if event["event"] == "skill":
            skill = event["skill"]
            self.skill = "no skill matched" if not skill else f"{skill['name']} v{skill['version']}"
            why = f" — {skill['reason']}" if skill and skill["reason"] else ""
            self.console.print(f"[bold]Skill:[/] {escape(self.skill + why)}")
        elif event["event"] == "step":
            self.steps.append(
                {"name": event["name"], "mode": event["mode"], "members": [], "judge": None}
            )
            self.answer = ""
        elif event["event"] == "member" and self.steps:
            self.steps[-1]["members"].append(event)
        elif event["event"] == "judge" and self.steps:
            self.steps[-1]["judge"] = event["model"]
        elif event["event"] == "delta" and event["final"]:
            self.answer += event["text"]
        elif event["event"] == "reset":
            self.answer = ""
        self._live.update(self._render())

    def _step_line(self, step: dict[str, Any], done: bool) -> Text:
        members = ", ".join(
            f"{m['model']} {m['status']} {m['latency_ms']:.0f}ms" for m in step["members"]
        )
        text = Text(f"{'✓' if done else '…'} {step['name']} ({step['mode'] or 'profile mode'}): ")
        text.append(members or "waiting for the pool", style="dim")
        if step["judge"]:
            text.append(f" → judge {step['judge']}", style="dim")
        return text

    def _render(self) -> Group:
        parts: list[Any] = [Text(f"Skill: {self.skill}")]
        for i, step in enumerate(self.steps):
            parts.append(self._step_line(step, done=i < len(self.steps) - 1))
        parts.append(Spinner("dots", text="working…"))
        if self.answer:
            parts.append(Text(self.answer[-1500:], style="cyan"))
        return Group(*parts)

    def print_result(self, result: RunResult, database_url: str) -> None:
        cost = "unknown" if result.cost_usd is None else f"${result.cost_usd:.6f}"
        self.console.print(
            f"[bold]Run[/] {result.run_id} · {len(result.steps)} step(s) · "
            f"{result.latency_ms:.0f} ms · "
            f"cost {cost} · recorded in {database_url} (evofuse runs show {result.run_id})"
        )
        Console().print(Markdown(result.answer))


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
    status: Annotated[
        str | None,
        typer.Option("--status", help="running, succeeded, failed, cancelled, interrupted"),
    ] = None,
    graph: Annotated[str | None, typer.Option("--graph", help="Only runs of this graph.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List recorded runs, newest first."""
    from evofuse.services import Services
    from evofuse.store.run_queries import list_runs

    services = Services.from_settings(load(config))
    try:
        rows = list_runs(services.store, status=status, graph=graph, limit=limit)
    finally:
        services.close()
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table(header_style="bold")
    for column in ("run", "graph", "status", "skill", "cost", "latency", "created"):
        table.add_column(column)
    for row in rows:
        skill = f"{row['skill']['name']} v{row['skill']['version']}" if row["skill"] else "-"
        cost = "unknown" if row["cost_usd"] is None else f"${row['cost_usd']:.6f}"
        latency = "-" if row["latency_ms"] is None else f"{row['latency_ms']:.0f} ms"
        table.add_row(
            row["run_id"], row["graph"], row["status"], skill, cost, latency, row["created_at"][:19]
        )
    Console().print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[
        str,
        typer.Argument(
            help="The run id (from `evofuse run` or `runs list`), or its first characters."
        ),
    ],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show one run: its steps, every candidate answer and the judge's verdicts."""
    from evofuse.services import Services
    from evofuse.store.run_queries import get_run

    services = Services.from_settings(load(config))
    try:
        detail = get_run(services.store, _unique_run_id(services, run_id))
    finally:
        services.close()
    if as_json:
        sys.stdout.write(json.dumps(detail, default=str) + "\n")
        return
    console = Console()
    console.print(
        f"[bold]{detail['run_id']}[/] {detail['graph']} · {detail['status']}"
        + (f" · {detail['error']}" if detail["error"] else "")
    )
    for step in detail["steps"]:
        console.rule(f"step {step['index']}: {step['name']} ({step['mode']}) {step['status']}")
        for c in step["candidates"]:
            text = escape((c["content"] or c["error"] or "")[:300])
            console.print(
                f"[bold]{c['model']}[/] r{c['round']} {c['status']} "
                f"{c['latency_ms']:.0f} ms: {text}"
            )
        if step["judge"]:
            j = step["judge"]
            why = escape(j["rationale"] or "")
            console.print(
                f"[italic]judge {j['judge_model']} {j['status']}: winner {j['winner']} — {why}[/]"
            )
        if step["error"]:
            console.print(f"[red]{escape(step['error'])}[/]")
    if detail.get("answer"):
        console.rule("answer")
        console.print(Markdown(detail["answer"]))


def _unique_run_id(services: Services, given: str) -> str:
    """The one recorded run id that `given` starts (the `runs list` table shortens ids)."""
    from evofuse.errors import UserError
    from evofuse.store.run_queries import complete_run_id

    matches = complete_run_id(services.store, given)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UserError(
            f"No run {given!r}", hint="`evofuse runs list` shows recorded runs and their ids"
        )
    more = ", …" if len(matches) == 5 else ""
    raise UserError(
        f"Run id {given!r} is ambiguous: it starts {', '.join(matches)}{more}",
        hint="Give more characters of the id.",
    )

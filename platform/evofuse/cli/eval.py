"""`evofuse eval SUITE`: which fusion mode is worth it for a set of checkable tasks."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from evofuse.cli.options import ConfigOption, JsonOption, load

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from evofuse.eval.harness import Arm, Attempt

DEFAULT_MODES = "single,vote,best-of,merge,debate,auto"


def eval_command(
    suite: Annotated[
        str,
        typer.Argument(
            help="A JSONL file (one {question, answer[, check, skill, id]} object a line) "
            "or rg:<dataset> for a reasoning-gym generator, e.g. rg:basic_arithmetic.",
            show_default=False,
        ),
    ],
    modes: Annotated[
        str,
        typer.Option(
            "--modes",
            help="Comma-separated modes to compare: single (each pool member alone), vote, "
            "best-of, merge, debate, auto.",
        ),
    ] = DEFAULT_MODES,
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="Fusion profile (default: fusion.default_profile)."),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "--n", help="Tasks: the first N of a JSONL suite; for rg: how many to generate (20)."
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Picks the rg: tasks and seeds every fusion step.")
    ] = 0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Tasks in flight at once.")
    ] = 4,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Run a suite of tasks with checkable answers through each fusion mode and compare them.

    Per mode: accuracy with a 95% Wilson interval, wins/losses against the best single member
    with an exact McNemar p-value, cost, model calls, median and p95 latency, and the ids of the
    tasks it got wrong. A bad suite exits with status 2 and names the line.
    """
    from rich.console import Console

    from evofuse.eval import load_suite
    from evofuse.eval.harness import evaluate, parse_modes
    from evofuse.eval.report import render
    from evofuse.localmodel import local_model_running

    settings = load(config)
    chosen = parse_modes(modes)
    loaded = load_suite(suite, n=n, seed=seed)
    stderr = Console(stderr=True)
    with local_model_running(settings.local_model, quiet=as_json), _progress(stderr) as bar:
        found = settings.fusion.profiles.get(profile or settings.fusion.default_profile)
        pool = len(found.models) if found else 1  # an unknown profile fails in `evaluate`
        arms = sum(pool if m.value == "single" else 1 for m in chosen)
        task = bar.add_task(f"eval {loaded.name}", total=arms * len(loaded.items))

        def advance(_arm: Arm, _attempt: Attempt) -> None:
            bar.advance(task)

        report = asyncio.run(
            evaluate(
                settings,
                loaded,
                chosen,
                profile=profile,
                seed=seed,
                concurrency=concurrency,
                progress=advance,
            )
        )
    if as_json:
        sys.stdout.write(report.model_dump_json() + "\n")
        return
    render(report, Console())


def _progress(console: Console) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )

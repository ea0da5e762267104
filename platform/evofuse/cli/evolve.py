"""`evofuse evolve [--dry-run] [--json]`, `evofuse evolve show ID|list`, `evofuse scheduler`.

Thin: the work happens in `evofuse.evolution`. With --json each prints exactly one JSON document
on stdout; the progress bar goes to stderr and is off with --json.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evofuse.cli.options import ConfigOption, JsonOption, load

if TYPE_CHECKING:
    from datetime import datetime

    from evofuse.evolution import CycleReport

app = typer.Typer(
    name="evolve",
    help="Run one evolution cycle now, or show the stored reports of earlier cycles.",
)


def _emit(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")


@app.callback(invoke_without_command=True)
def evolve(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Propose and gate, but publish, promote and roll back nothing."
        ),
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Run one evolution cycle: evidence → Extractor and Evolver → gate → publish → report.

    Only one cycle runs at a time across every process sharing the database; a second one is
    refused with the name of the process that holds the lease.
    """
    if ctx.invoked_subcommand is not None:
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from evofuse.evolution import open_cycle
    from evofuse.localmodel import local_model_running
    from evofuse.services import Services

    settings = load(config)
    services = Services.from_settings(settings)
    try:
        with (
            local_model_running(settings.local_model, quiet=as_json),
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
                disable=as_json,
            ) as progress,
        ):
            task = progress.add_task("Opening the skill library", total=None)

            def show(what: str, done: int, total: int) -> None:
                progress.update(task, description=what, completed=done, total=total or None)

            cycle = open_cycle(services, dry_run=dry_run, trigger="cli", progress=show)
            from evofuse.store import audit

            audit.record(
                services.store,
                actor=audit.cli_actor(),
                action=audit.AuditAction.EVOLUTION_TRIGGER,
                target=f"cycle {cycle.id}",
                detail={"dry_run": dry_run},
            )
            report = asyncio.run(cycle.run())
    finally:
        services.close()
    if as_json:
        _emit(report.model_dump(mode="json"))
    else:
        render(Console(highlight=False), report)
    if report.status == "failed":
        raise typer.Exit(1)


@app.command("show")
def show_cycle(
    cycle_id: Annotated[int, typer.Argument(help="Cycle id (see `evofuse evolve list`).")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show a cycle's report: evidence, proposals, gate results, promotions, rollbacks, cost."""
    from evofuse.evolution import get_cycle
    from evofuse.store import Store

    store = Store(load(config).storage.database_url)
    try:
        report = get_cycle(store, cycle_id)
    finally:
        store.close()
    if as_json:
        _emit(report.model_dump(mode="json"))
        return
    render(Console(highlight=False), report)


@app.command("list")
def list_cycles(
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List the stored cycles, newest first."""
    from evofuse.evolution import list_cycles as stored
    from evofuse.store import Store

    store = Store(load(config).storage.database_url)
    try:
        cycles = stored(store, limit=limit)
    finally:
        store.close()
    if as_json:
        _emit([c.model_dump(mode="json") for c in cycles])
        return
    table = Table(box=None)
    for column in ("id", "status", "trigger", "started", "cost", "summary"):
        table.add_column(column)
    for c in cycles:
        cost = "-" if c.cost_usd is None else f"${c.cost_usd:.4f}"
        table.add_row(
            str(c.id),
            c.status + (" (dry run)" if c.dry_run else ""),
            c.trigger,
            c.started_at.isoformat(timespec="seconds"),
            cost,
            escape(c.summary),
        )
    Console(highlight=False).print(table if cycles else "No evolution cycles yet: evofuse evolve")


def scheduler(
    config: ConfigOption = None,
    now: Annotated[
        bool,
        typer.Option(
            "--now",
            help="Also run one cycle at once, then follow the schedule (after a deploy, or to "
            "take over at once from a scheduler that died mid-cycle).",
        ),
    ] = False,
) -> None:
    """Run evolution cycles on `evolution.schedule` (cron, UTC) until stopped (Ctrl-C).

    With storage.retention_days set, it also applies the retention policy on
    storage.retention_schedule. Several schedulers may run: a lease in the database lets one
    cycle through at a time, and the others log that it is held.
    """
    import logging

    from evofuse.evolution.scheduler import cron_trigger, run_scheduler
    from evofuse.services import Services

    settings = load(config)
    cron_trigger(settings.evolution.schedule)  # a bad schedule fails before anything opens
    retention = settings.storage.retention_days
    if retention is not None:
        cron_trigger(settings.storage.retention_schedule, "storage.retention_schedule")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    for name in ("evofuse", "apscheduler.executors"):  # each cycle's result and job runs
        logging.getLogger(name).setLevel(logging.INFO)
    console = Console(stderr=True, highlight=False, soft_wrap=True)

    def started(first: datetime) -> None:
        console.print(
            f"Evolution scheduler: {settings.evolution.schedule!r} (UTC); first cycle at "
            f"{first.isoformat(timespec='seconds')}. Ctrl-C stops it."
        )
        if retention is not None:
            console.print(
                f"Retention: run text older than {retention:g} days is "
                f"{'deleted' if settings.storage.retention_mode.value == 'delete' else 'scrubbed'}"
                " on "
                f"{settings.storage.retention_schedule!r} (UTC)."
            )

    from evofuse.localmodel import local_model_running

    services = Services.from_settings(settings)
    try:
        with local_model_running(settings.local_model):
            run_scheduler(services, on_start=started, now=now)
    except (KeyboardInterrupt, SystemExit):
        console.print("Scheduler stopped.")
    finally:
        services.close()


def render(console: Console, report: CycleReport) -> None:
    """The report for people: what was proposed, what the gate decided and why."""
    mode = " (dry run: nothing published)" if report.dry_run else ""
    cost = f"${report.cost_usd:.4f}"
    if report.unpriced_calls:
        cost += f" + {report.unpriced_calls} calls of unknown price"
    budget = "no limit" if report.budget_usd is None else f"${report.budget_usd:.4f}"
    console.rule(f"[bold]Evolution cycle {report.id}[/] · {report.status}{mode}")
    console.print(f"profile {report.profile} · cost {cost} of {budget} · {report.summary()}")
    if report.stopped_reason:
        console.print(f"[yellow]Stopped:[/] {escape(report.stopped_reason)}")
    if report.error:
        console.print(f"[red]Error:[/] {escape(report.error)}")
    if report.canaries:
        table = Table(title="Canaries and watched versions", box=None, title_justify="left")
        for column in ("skill", "version", "decision", "why"):
            table.add_column(column)
        for c in report.canaries:
            table.add_row(c.skill, f"v{c.version}", c.decision, escape(c.reason))
        console.print(table)
    if report.evidence:
        table = Table(title="Evidence", box=None, title_justify="left")
        for column in ("skill", "runs", "users", "with a problem", "mean", "next"):
            table.add_column(column)
        for e in report.evidence:
            mean = "-" if e.weighted_mean is None else f"{e.weighted_mean:.2f}"
            table.add_row(
                f"{e.skill} v{e.version}",
                str(e.runs),
                str(e.users),
                str(e.supporters),
                mean,
                escape(e.note),
            )
        console.print(table)
    for p in report.proposals:
        target = p.skill + (f" v{p.base_version}" if p.base_version else "")
        console.print(
            f"\n[bold]{p.source}: {p.action} {escape(target)}[/] → [bold]{p.status}[/]: "
            f"{escape(p.reason)}"
        )
        if p.rationale:
            console.print(f"  rationale: {escape(p.rationale)}")
        if p.change is not None:
            size = p.change
            console.print(
                f"  change: {size.edits} edits, +{size.chars_added}/-{size.chars_removed} chars, "
                f"{size.change_ratio:.0%} changed, {size.retained_ratio:.0%} kept"
            )
        for check in p.gate:
            mark = "[green]✓[/]" if check.passed else "[red]✗[/]"
            console.print(f"  {mark} {check.name}: {escape(check.detail)}")

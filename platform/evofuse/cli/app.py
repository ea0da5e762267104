"""Entry point: `evofuse …`. Heavy imports happen inside commands so `--help` stays instant."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from evofuse.cli import db as db_cli
from evofuse.cli import demo, evolve, fuse, run, serve
from evofuse.cli import eval as eval_cli
from evofuse.cli import governance as governance_cli
from evofuse.cli import keys as keys_cli
from evofuse.cli import skills as skills_cli

app = typer.Typer(
    name="evofuse",
    help="EvoFuse: agents whose every LLM step is fused from a pool of models, "
    "with skills that evolve from everyone's runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command(name="fuse")(fuse.fuse)
app.command(name="demo")(demo.demo)
app.command(name="run")(run.run)
app.add_typer(run.runs_app, name="runs")
app.add_typer(skills_cli.app, name="skills")
app.command(name="serve")(serve.serve)
app.add_typer(keys_cli.app, name="keys")
app.add_typer(evolve.app, name="evolve")
app.command(name="scheduler")(evolve.scheduler)
app.add_typer(governance_cli.users_app, name="users")
app.add_typer(governance_cli.audit_app, name="audit")
app.add_typer(governance_cli.retention_app, name="retention")
app.command(name="eval")(eval_cli.eval_command)
app.add_typer(db_cli.app, name="db")


def main() -> None:
    """Run the CLI; turn EvoFuse's own errors into a message and an exit code, not a traceback.

    Usage errors (missing argument, unknown option) are Typer's own: a usage line and exit 2.
    """
    from evofuse.errors import EvoFuseError, UserError

    try:
        app()
    except EvoFuseError as exc:
        from rich.markup import escape

        # soft_wrap: keys and paths stay whole on one line when stderr is not a terminal
        console = Console(stderr=True, soft_wrap=True)
        console.print(f"[bold red]Error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            console.print(f"[yellow]Hint:[/] {escape(exc.hint)}", highlight=False)
        sys.exit(2 if isinstance(exc, UserError) else 1)


if __name__ == "__main__":
    main()

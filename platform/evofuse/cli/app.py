"""Entry point: `evofuse …`. Heavy imports happen inside commands so `--help` stays instant."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from evofuse.cli import demo, fuse

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


def main() -> None:
    """Run the CLI; turn EvoFuse's own errors into a message and an exit code, not a traceback."""
    from evofuse.errors import EvoFuseError, UserError

    try:
        app(standalone_mode=False)
    except EvoFuseError as exc:
        Console(stderr=True).print(f"[bold red]Error:[/] {exc.message}", highlight=False)
        if exc.hint:
            Console(stderr=True).print(f"[yellow]Hint:[/] {exc.hint}", highlight=False)
        sys.exit(2 if isinstance(exc, UserError) else 1)
    except typer.Abort:
        Console(stderr=True).print("Aborted.")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click's own usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()

"""`--help` of every command reads as a user expects: flags without a type, arguments by name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from evofuse.cli.app import app


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in (getattr(group, "commands", None) or {}).items():
        yield from commands(command, (*path, name))


ALL = sorted(commands(typer.main.get_command(app)))


def test_every_command_is_walked() -> None:
    assert ("run",) in ALL and ("runs", "show") in ALL and len(ALL) > 15


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "evofuse")
def test_help_shows_flags_as_flags_and_arguments_without_braces(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert not re.search(r"[{}]", usage), usage
    assert re.search(r"--help\s+Show this message", result.output)

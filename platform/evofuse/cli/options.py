"""Options shared by every command, and the loader they all use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from evofuse.config import Settings

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file. Default: $EVOFUSE_CONFIG, then ./evofuse.yaml.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON document on stdout, nothing else.")
]


def load(config: Path | None) -> Settings:
    from evofuse.config import load_settings

    return load_settings(config)

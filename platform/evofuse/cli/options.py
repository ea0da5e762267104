"""Options shared by every command, and the loader they all use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from evofuse.config import Settings
    from evofuse.options import FusionOptions

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


def fusion_options(
    *,
    profile: str | None = None,
    mode: str | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
) -> FusionOptions:
    """The typed fusion options of a command's flags; a `UserError` names the flag at fault."""
    from pydantic import ValidationError

    from evofuse.errors import UserError
    from evofuse.options import FusionOptions, ModelSettings

    try:
        return FusionOptions(
            profile=profile, mode=mode, seed=seed, sampling=ModelSettings(max_tokens=max_tokens)
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(e['loc'][-1]).replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        raise UserError(
            f"Invalid option {problems}", hint="`evofuse <command> --help` lists each option."
        ) from None

"""Find, read and validate the configuration file, with errors that name the file and the key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from evofuse.config.models import Settings
from evofuse.errors import ConfigError

CONFIG_ENV_VAR = "EVOFUSE_CONFIG"
DEFAULT_CONFIG_NAME = "evofuse.yaml"


def find_config_path(explicit: str | Path | None = None) -> Path:
    """`--config`, else `$EVOFUSE_CONFIG`, else `./evofuse.yaml`."""
    if explicit:
        source, path = "--config", Path(explicit)
    elif os.environ.get(CONFIG_ENV_VAR):
        source, path = CONFIG_ENV_VAR, Path(os.environ[CONFIG_ENV_VAR])
    else:
        source, path = "default", Path(DEFAULT_CONFIG_NAME)
    if not path.is_file():
        raise ConfigError(
            f"Config file not found: {path} (from {source})",
            hint="Pass --config PATH, set EVOFUSE_CONFIG, or run from a folder with evofuse.yaml "
            "(the repository's evofuse.yaml is a working example).",
        )
    return path


def load_settings(
    explicit: str | Path | None = None, *, check_env_secrets: bool = True
) -> Settings:
    """Load and validate the configuration; raise `ConfigError` with every problem listed."""
    path = find_config_path(explicit)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys (model_list, fusion, …)"
        )
    return settings_from_mapping(raw, source=str(path), check_env_secrets=check_env_secrets)


def settings_from_mapping(
    raw: dict[str, Any], *, source: str = "<config>", check_env_secrets: bool = True
) -> Settings:
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None
    if check_env_secrets:
        missing = settings.missing_env_secrets()
        if missing:
            lines = [f"  {key}: environment variable {var} is not set" for key, var in missing]
            raise ConfigError(
                f"{source}: missing secrets:\n" + "\n".join(lines),
                hint="export the variable(s), or remove the models that need them from "
                "model_list and the profiles",
            )
    return settings


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration:"]
    for err in exc.errors():
        loc = _dotted(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling against DESIGN.md's config contract)"
        if err["type"] == "enum" and "expected" in err.get("ctx", {}):
            msg = f"{err['input']!r} is not one of {err['ctx']['expected']}"
        # Cross-field checks have no location of their own: their message names the key.
        lines.append(f"  {loc}: {msg}" if loc else f"  {msg}")
    return "\n".join(lines)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out

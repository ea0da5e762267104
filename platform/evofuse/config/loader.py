"""Find, read and validate the configuration file, with errors that name the file and the key.

Relative paths in the file (`skills.dir`, `graphs`, a SQLite `storage.database_url`,
`storage.chroma`, `local_model.model_path`, `ui.results_dir`), and the defaults of those keys,
are taken relative to the file's folder, so a command behaves the same from any working
directory. `EVOFUSE_*` variables override the file and are taken as given; an invalid one is
blamed by its name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError

from evofuse.config.models import Settings, SkillsSettings, StorageSettings, UiSettings
from evofuse.errors import ConfigError

CONFIG_ENV_VAR = "EVOFUSE_CONFIG"
DEFAULT_CONFIG_NAME = "evofuse.yaml"
ENV_PREFIX = "EVOFUSE_"
README_HINT = "The README's configuration section lists every key and its allowed values."


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
    raw = anchor_paths(raw, path.resolve().parent)
    return settings_from_mapping(raw, source=str(path), check_env_secrets=check_env_secrets)


def anchor_paths(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The mapping with its relative paths (and those keys' defaults) made absolute in `folder`.

    Values of the wrong type are left alone: validation reports them with their key.
    """
    out = dict(raw)

    def section(name: str) -> dict[str, Any] | None:
        value = out.get(name)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            return None
        out[name] = value = dict(value)
        return value

    if (skills := section("skills")) is not None:
        skills["dir"] = _anchor(skills.get("dir", SkillsSettings().dir), folder)
    out["graphs"] = _anchor(out.get("graphs", Settings.model_fields["graphs"].default), folder)
    if (storage := section("storage")) is not None:
        defaults = StorageSettings()
        url = storage.get("database_url", defaults.database_url)
        storage["database_url"] = _anchor_sqlite(url, folder)
        chroma = storage.get("chroma", defaults.chroma)
        if not (isinstance(chroma, str) and chroma.startswith(("http://", "https://"))):
            storage["chroma"] = _anchor(chroma, folder)
    if (local := section("local_model")) is not None and local.get("model_path") is not None:
        local["model_path"] = _anchor(local["model_path"], folder)
    if (ui := section("ui")) is not None:
        ui["results_dir"] = _anchor(ui.get("results_dir", UiSettings().results_dir), folder)
    return out


def _anchor(value: object, folder: Path) -> object:
    if not isinstance(value, str | Path) or not str(value):
        return value
    path = Path(value).expanduser()
    # normpath: "../../skills" reads better in messages as the folder it names
    return str(path if path.is_absolute() else os.path.normpath(folder / path))


def _anchor_sqlite(url: object, folder: Path) -> object:
    """`sqlite:///relative.db` → the file in `folder`; other databases are left alone."""
    if not isinstance(url, str) or not url.startswith("sqlite"):
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return url
    path = Path(database).expanduser()
    if path.is_absolute():
        return url
    database = os.path.normpath(folder / path)
    return parsed.set(database=database).render_as_string(hide_password=False)


def settings_from_mapping(
    raw: dict[str, Any], *, source: str = "<config>", check_env_secrets: bool = True
) -> Settings:
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        message, from_env = _format_validation_error(exc, source)
        hint = (
            "Fix or unset the variable(s): EVOFUSE_* values override the file."
            if from_env
            else README_HINT
        )
        raise ConfigError(message, hint=hint) from None
    except SettingsError as exc:
        # pydantic-settings could not parse a variable (a nested key given as invalid JSON).
        field = re.search(r'field "(\w+)"', str(exc))
        var = ENV_PREFIX + field[1].upper() if field else "an EVOFUSE_* variable"
        raise ConfigError(
            f"Environment variable {var} is not valid: it must hold JSON for the whole "
            f"`{field[1] if field else '…'}` section ({exc.__cause__ or exc})",
            hint="Fix or unset it, or set single keys with __, e.g. "
            "EVOFUSE_STORAGE__DATABASE_URL=sqlite:///other.db",
        ) from None
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


def _format_validation_error(exc: ValidationError, source: str) -> tuple[str, bool]:
    """The message (file problems, then variable problems), and whether a variable is to blame."""
    in_file: list[str] = []
    in_env: list[str] = []
    for err in exc.errors():
        loc = _dotted(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling against the README's configuration section)"
        if err["type"] == "enum" and "expected" in err.get("ctx", {}):
            msg = f"{err['input']!r} is not one of {err['ctx']['expected']}"
        var = _env_var_for(err["loc"])
        if var is not None:
            in_env.append(f"  {var} (sets {loc}): {msg}")
        else:
            # Cross-field checks have no location of their own: their message names the key.
            in_file.append(f"  {loc}: {msg}" if loc else f"  {msg}")
    parts = []
    if in_file:
        parts.append(f"{source}: invalid configuration:\n" + "\n".join(in_file))
    if in_env:
        parts.append("Invalid environment variable(s):\n" + "\n".join(in_env))
    return "\n".join(parts), bool(in_env)


def _env_var_for(loc: tuple[int | str, ...]) -> str | None:
    """The set EVOFUSE_* variable that supplied the value at `loc` (or a section holding it)."""
    keys = [part for part in loc if isinstance(part, str)]
    if len(keys) != len(loc) or not keys:
        return None  # inside a list (model_list[0]…): lists come from the file
    present = {name.upper(): name for name in os.environ}
    for end in range(len(keys), 0, -1):
        var = ENV_PREFIX + "__".join(keys[:end]).upper()
        if var in present:
            return present[var]
    return None


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out

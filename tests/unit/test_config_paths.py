"""Relative paths in a config file are the file's, not the working directory's; an invalid
EVOFUSE_* variable is blamed by its name, not on the file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from evofuse.config import load_settings
from evofuse.errors import ConfigError
from tests.unit.test_config import REPO, base_config, write


def test_relative_paths_resolve_against_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    data = base_config()
    data["local_model"] = {"model_path": "models/m.gguf"}
    path = write(project, data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(Path("..") / "project" / "evofuse.yaml")
    folder = project.resolve()
    assert settings.skills.dir == folder / "skills"
    assert settings.graphs == str(folder / "langgraph.json")
    assert settings.storage.database_url == f"sqlite:///{folder}/.evofuse/evofuse.db"
    assert settings.storage.chroma == str(folder / ".evofuse/chroma")
    assert settings.local_model.model_path == folder / "models/m.gguf"
    assert path.is_file()


def test_defaults_of_path_keys_also_live_beside_the_file(tmp_path: Path) -> None:
    data = base_config()
    for key in ("skills", "storage", "graphs"):
        del data[key]
    settings = load_settings(write(tmp_path, data))
    assert settings.skills.dir == tmp_path / "skills"
    assert settings.graphs == str(tmp_path / "langgraph.json")
    assert settings.storage.database_url == f"sqlite:///{tmp_path}/.evofuse/evofuse.db"


@pytest.mark.parametrize(
    "storage",
    [
        {
            "database_url": "postgresql+psycopg://u:p@db:5432/evofuse",
            "chroma": "http://chroma:8000",
        },
        {"database_url": "sqlite:////var/lib/evofuse.db", "chroma": "/var/lib/chroma"},
        {"database_url": "sqlite://", "chroma": "https://chroma.example.com"},
    ],
)
def test_absolute_paths_servers_and_memory_databases_stay_as_written(
    tmp_path: Path, storage: dict[str, str]
) -> None:
    data = base_config()
    data["storage"] = storage
    settings = load_settings(write(tmp_path, data))
    assert settings.storage.database_url == storage["database_url"]
    assert settings.storage.chroma == storage["chroma"]


def test_env_overrides_are_taken_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOFUSE_SKILLS__DIR", "my-skills")
    settings = load_settings(write(tmp_path, base_config()))
    assert settings.skills.dir == Path("my-skills")


@pytest.mark.parametrize(
    ("var", "value", "key"),
    [
        ("EVOFUSE_AUTH__ENABLED", "maybe", "auth.enabled"),
        ("EVOFUSE_LOCAL_MODEL__PORT", "eighty", "local_model.port"),
        ("EVOFUSE_FUSION__PROFILES__PANEL__MODE", "shouting", "fusion.profiles.panel.mode"),
    ],
)
def test_an_invalid_env_override_is_blamed_on_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str, key: str
) -> None:
    monkeypatch.setenv(var, value)
    path = write(tmp_path, base_config())
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = caught.value.message
    assert message.startswith("Invalid environment variable(s):")
    assert f"{var} (sets {key}):" in message
    assert str(path) not in message  # the file is fine
    assert "EVOFUSE_* values override the file" in (caught.value.hint or "")


def test_file_and_variable_problems_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVOFUSE_AUTH__ENABLED", "maybe")
    data = base_config()
    data["fusion"]["profiles"]["panel"]["grace_s"] = -1
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    file_part, env_part = caught.value.message.split("Invalid environment variable(s):")
    assert f"{path}: invalid configuration:" in file_part and "grace_s" in file_part
    assert "EVOFUSE_AUTH__ENABLED" in env_part and "grace_s" not in env_part


def test_an_unparseable_json_section_variable_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVOFUSE_STORAGE", "{not json")
    with pytest.raises(ConfigError, match="Environment variable EVOFUSE_STORAGE is not valid"):
        load_settings(write(tmp_path, base_config()))


def test_an_unknown_key_points_to_the_readme_not_to_a_missing_file(tmp_path: Path) -> None:
    data = base_config()
    data["fusion"]["profiles"]["panel"]["modes"] = "merge"
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, data))
    text = str(caught.value)
    assert "README's configuration section" in text
    assert not re.findall(r"\w+\.md", text)  # no file the user does not have


def test_cli_blames_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, base_config())
    proc = subprocess.run(
        [sys.executable, "-m", "evofuse.cli.app", "runs", "list", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"EVOFUSE_AUTH__ENABLED": "maybe", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert "EVOFUSE_AUTH__ENABLED (sets auth.enabled)" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", ["openrouter.yaml", "direct-keys.yaml"])
def test_the_example_configs_find_the_repositorys_skills_and_graphs(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in ("OPENROUTER_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(key, "sk-test-not-used")
    monkeypatch.chdir(tmp_path)  # from anywhere
    settings = load_settings(REPO / "examples" / "configs" / name)
    assert (settings.skills.dir / "code-review" / "SKILL.md").is_file()
    assert Path(settings.graphs).resolve() == REPO / "langgraph.json"
    assert settings.storage.database_url.endswith("/.evofuse/evofuse.db")
    assert Path(settings.storage.database_url.removeprefix("sqlite:///")).parent.parent == REPO

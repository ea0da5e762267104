"""Configuration: the documented keys, and errors that name the file and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from evofuse.config import FusionMode, load_settings
from evofuse.config.loader import find_config_path
from evofuse.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def base_config() -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": name,
                "litellm_params": {"model": f"openai/{name}", "api_key": "sk-test-123456"},
            }
            for name in ("claude", "gemini", "gpt4o")
        ],
        "fusion": {
            "default_profile": "panel",
            "profiles": {
                "panel": {
                    "models": ["claude", "gemini", "gpt4o"],
                    "judge": "claude",
                    "fallback_judge": "gemini",
                    "mode": "merge",
                    "debate_rounds": 1,
                    "timeout_s": 60,
                    "quorum": 2,
                    "grace_s": 2.0,
                    "max_cost_usd": 0.5,
                }
            },
        },
        "skills": {"dir": "skills", "embedding": "minilm"},
        "storage": {"database_url": "sqlite:///.evofuse/evofuse.db", "chroma": ".evofuse/chroma"},
        "evolution": {"schedule": "0 */6 * * *", "min_distinct_users": 3, "profile": "panel"},
        "auth": {"enabled": True},
        "graphs": "langgraph.json",
    }


def write(tmp_path: Path, data: dict[str, Any], name: str = "evofuse.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_design_md_example_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, base_config()))
    profile = settings.fusion.profiles["panel"]
    assert profile.mode is FusionMode.MERGE and profile.quorum == 2 and profile.max_cost_usd == 0.5
    assert settings.router_model_list()[0] == {
        "model_name": "claude",
        "litellm_params": {"model": "openai/claude", "api_key": "sk-test-123456"},
    }


def test_model_list_entries_pass_through_verbatim(tmp_path: Path) -> None:
    data = base_config()
    data["model_list"][0]["model_info"] = {"id": "c1"}
    data["model_list"][0]["litellm_params"]["rpm"] = 10
    settings = load_settings(write(tmp_path, data))
    assert settings.router_model_list()[0]["model_info"] == {"id": "c1"}
    assert settings.router_model_list()[0]["litellm_params"]["rpm"] == 10


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c["fusion"]["profiles"]["panel"]["models"].append("llama"),
            "fusion.profiles.panel.models: 'llama' is not a model_name in model_list",
        ),
        (
            lambda c: c["fusion"]["profiles"]["panel"].update(judge="mistral"),
            "fusion.profiles.panel.judge: 'mistral' is not a model_name",
        ),
        (
            lambda c: c["fusion"]["profiles"]["panel"].update(mode="majority"),
            "fusion.profiles.panel.mode: 'majority' is not one of",
        ),
        (
            lambda c: c["fusion"]["profiles"]["panel"].update(quorum=4),
            "fusion.profiles.panel: quorum 4 is larger than the pool (3 models)",
        ),
        (
            lambda c: c["fusion"]["profiles"]["panel"].update(timeout_s=-1),
            "fusion.profiles.panel.timeout_s: Input should be greater than 0",
        ),
        (
            lambda c: c["fusion"]["profiles"]["panel"].update(grace_s=-0.5),
            "fusion.profiles.panel.grace_s: Input should be greater than or equal to 0",
        ),
        (
            lambda c: c["fusion"].update(default_profile="nope"),
            "default_profile 'nope' is not one of",
        ),
        (
            lambda c: c["fusion"]["profiles"]["panel"].update(modes="merge"),
            "panel.modes: unknown key",
        ),
        (
            lambda c: c["model_list"][1]["litellm_params"].pop("model"),
            "model_list[1].litellm_params",
        ),
        (lambda c: c["evolution"].update(profile="ghost"), "evolution.profile 'ghost'"),
    ],
)
def test_invalid_config_names_file_and_key(tmp_path: Path, mutate: Any, expected: str) -> None:
    data = base_config()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_missing_env_secret_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOFUSE_TEST_ABSENT_KEY", raising=False)
    data = base_config()
    data["model_list"][2]["litellm_params"]["api_key"] = "os.environ/EVOFUSE_TEST_ABSENT_KEY"
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, data))
    assert "model_list[2].litellm_params.api_key" in str(caught.value)
    assert "EVOFUSE_TEST_ABSENT_KEY is not set" in str(caught.value)
    monkeypatch.setenv("EVOFUSE_TEST_ABSENT_KEY", "sk-present-value")
    assert (
        load_settings(write(tmp_path, data))
        .model_list[2]
        .litellm_params["api_key"]
        .startswith("os.environ/")
    )


def test_env_vars_override_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOFUSE_STORAGE__DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("EVOFUSE_AUTH__ENABLED", "false")
    settings = load_settings(write(tmp_path, base_config()))
    assert settings.storage.database_url == "sqlite:///elsewhere.db"
    assert settings.auth.enabled is False
    # the rest of the section stays (its relative path taken in the config file's folder)
    assert settings.storage.chroma == str(tmp_path / ".evofuse/chroma")


def test_config_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write(tmp_path, base_config(), "explicit.yaml")
    from_env = write(tmp_path, base_config(), "env.yaml")
    write(tmp_path, base_config(), "evofuse.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVOFUSE_CONFIG", str(from_env))
    assert find_config_path(explicit) == explicit
    assert find_config_path(None) == from_env
    monkeypatch.delenv("EVOFUSE_CONFIG")
    assert find_config_path(None) == Path("evofuse.yaml")
    (tmp_path / "evofuse.yaml").unlink()
    with pytest.raises(ConfigError, match="Config file not found"):
        find_config_path(None)


def test_yaml_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("model_list: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path)


def test_repository_config_is_valid() -> None:
    settings = load_settings(REPO / "evofuse.yaml")
    assert settings.fusion.default_profile in settings.fusion.profiles


def test_cli_exits_2_with_the_message_and_no_traceback(tmp_path: Path) -> None:
    data = base_config()
    data["fusion"]["profiles"]["panel"]["models"].append("llama")
    path = write(tmp_path, data)
    proc = subprocess.run(
        [sys.executable, "-m", "evofuse.cli.app", "fuse", "hello", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "fusion.profiles.panel.models: 'llama' is not a model_name" in proc.stderr
    assert str(path) in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""

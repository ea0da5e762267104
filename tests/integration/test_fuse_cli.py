"""`evofuse fuse --json` as a user runs it: a subprocess against a scripted local upstream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from evofuse.testing import ModelBehavior, UpstreamScript, model_entry, upstream_process

pytestmark = pytest.mark.slow  # each CLI run is a fresh process that imports litellm (~5 s)

SECRET = "sk-cli-integration-secret-0123456789"
PROMPT = "What is the capital of France?"

SCRIPT = UpstreamScript(
    models={
        "fast": ModelBehavior(latency_ms=50, content="Paris."),
        "slow": ModelBehavior(latency_ms=300, content="The capital of France is Paris."),
        # Echoes the caller's key back, as some providers do: it must never reach the output.
        "broken": ModelBehavior(
            kind="error", status=401, message="Incorrect API key provided: {api_key}"
        ),
        "garbled": ModelBehavior(kind="garbage"),
        "judge": ModelBehavior(kind="judge", latency_ms=20),
    },
    default=None,
)


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    """The upstream as its own process, the way a user's test suite would run it."""
    with upstream_process(SCRIPT) as url:
        assert url.startswith("http://127.0.0.1:")
        yield url


def write_config(folder: Path, url: str, profile: dict[str, Any]) -> Path:
    config = {
        "model_list": [
            model_entry(
                name, url, api_key=SECRET, input_cost_per_token=1e-6, output_cost_per_token=2e-6
            )
            for name in SCRIPT.models
        ],
        "fusion": {"default_profile": "panel", "profiles": {"panel": profile}},
    }
    path = folder / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_fuse(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOFUSE_")}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", COLUMNS="400", NO_COLOR="1")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "evofuse.cli.app",
            "fuse",
            PROMPT,
            "--json",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        cwd=cwd,
        check=False,
    )


def one_json_document(stdout: str) -> dict[str, Any]:
    document, end = json.JSONDecoder().raw_decode(stdout.lstrip())
    assert stdout.lstrip()[end:].strip() == "", f"more than one document on stdout: {stdout!r}"
    assert isinstance(document, dict)
    return document


def flat(text: str) -> str:
    return " ".join(text.split())


def test_fuse_json_prints_the_result_object_and_nothing_else(
    upstream_url: str, tmp_path: Path
) -> None:
    profile = {"models": ["fast", "slow", "broken"], "judge": "judge", "mode": "merge"}
    proc = run_fuse(write_config(tmp_path, upstream_url, profile), tmp_path)

    assert proc.returncode == 0, proc.stderr
    result = one_json_document(proc.stdout)
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    assert result["mode"] == "merge" and result["profile"] == "panel"
    assert result["content"].startswith("Fused: ")

    candidates = {c["model"]: c for c in result["candidates"]}
    assert {m: c["status"] for m, c in candidates.items()} == {
        "fast": "ok",
        "slow": "ok",
        "broken": "error",
    }
    assert candidates["slow"]["content"] == "The capital of France is Paris."
    broken = candidates["broken"]
    assert "401" in broken["error"] and "Incorrect API key provided" in broken["error"]
    assert broken["content"] is None
    for candidate in candidates.values():
        assert {"latency_ms", "prompt_tokens", "completion_tokens", "cost_usd", "error"} <= set(
            candidate
        )

    judge = result["judge"]
    assert judge["model"] == "judge" and judge["status"] == "ok"
    assert judge["winner"] in {"fast", "slow"}
    assert sorted(judge["order"]) == ["fast", "slow"]  # the judge saw only the answers

    ok_costs = [c["cost_usd"] for c in candidates.values() if c["status"] == "ok"]
    assert all(cost > 0 for cost in ok_costs)
    assert result["cost_usd"] == pytest.approx(sum(ok_costs) + judge["cost_usd"])
    assert result["latency_ms"] >= 300  # never faster than the slowest answering member
    assert result["degraded"] and any("broken" in r for r in result["degraded_reasons"])


def test_config_error_exits_2_naming_the_key_and_file(upstream_url: str, tmp_path: Path) -> None:
    profile = {"models": ["fast", "ghost"], "judge": "judge"}
    config = write_config(tmp_path, upstream_url, profile)
    proc = run_fuse(config, tmp_path)

    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    message = flat(proc.stderr)
    assert "fusion.profiles.panel.models" in message and "'ghost'" in message
    assert str(config) in message
    assert "Traceback" not in proc.stderr


def test_all_members_failing_exits_nonzero_listing_each_failure(
    upstream_url: str, tmp_path: Path
) -> None:
    profile = {"models": ["broken", "garbled"], "judge": "judge"}
    proc = run_fuse(write_config(tmp_path, upstream_url, profile), tmp_path)

    assert proc.returncode not in (0, 2), proc.stderr
    assert '"content"' not in proc.stdout  # never a partial or empty answer
    message = flat(proc.stderr)
    assert "broken: error: HTTP 401" in message
    assert "garbled: error:" in message
    assert SECRET not in proc.stderr
    assert "Traceback" not in proc.stderr

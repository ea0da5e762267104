"""A real fusion against the real embedded model (SmolLM2-135M-Instruct on llama.cpp).

Checks structure, not content: a 135M model's answers vary, but every call must be made,
counted and reported. Runs offline: the only server is the one on 127.0.0.1 that we start.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from evofuse.config import Settings
from evofuse.config.loader import settings_from_mapping
from evofuse.fusion import FusionEngine, FusionResult
from evofuse.localmodel import local_model_running
from evofuse.options import FusionOptions

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
QUESTION = [{"role": "user", "content": "Why is the sky blue? Answer in two sentences."}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def repo_config_on_port(port: int) -> dict[str, Any]:
    """The repository's evofuse.yaml, with the local server (and every api_base) moved to `port`."""
    raw: dict[str, Any] = yaml.safe_load((REPO / "evofuse.yaml").read_text())
    default_url = f"http://127.0.0.1:{raw['local_model']['port']}/v1"
    for deployment in raw["model_list"]:
        params = deployment["litellm_params"]
        assert params.get("api_base") == default_url, "every default model uses the local server"
        params["api_base"] = f"http://127.0.0.1:{port}/v1"
    raw["local_model"]["port"] = port
    return raw


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The repo's settings, with the real model server running on a free port."""
    raw = repo_config_on_port(free_port())
    settings = settings_from_mapping(raw, source="evofuse.yaml (test port)")
    cwd = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("localmodel"))  # the server's log goes under .evofuse/
    try:
        with local_model_running(settings.local_model, quiet=True) as server:
            assert server is not None and not server.reused
            yield settings
    finally:
        os.chdir(cwd)


def check_structure(result: FusionResult) -> None:
    assert len(result.candidates) == 3
    for candidate in result.candidates:
        assert candidate.status == "ok", candidate.error
        assert candidate.content and candidate.content.strip()
        assert candidate.prompt_tokens > 0
        assert candidate.completion_tokens > 0
        assert candidate.cost_usd is None  # no price is known for a local model: never a made-up 0
    judge = result.judge
    if judge.status == "ok":
        assert judge.model == "smollm2-judge"
        assert judge.winner in {c.model for c in result.candidates}
        assert judge.completion_tokens > 0
        assert sorted(judge.order) == sorted(c.model for c in result.candidates)
    else:
        assert result.degraded and result.degraded_reasons, "a judge failure must say why"
    assert result.content.strip()
    assert result.cost_usd is None
    calls = [*result.candidates, judge]
    assert result.prompt_tokens == sum(c.prompt_tokens for c in calls)
    assert result.completion_tokens == sum(c.completion_tokens for c in calls)


@pytest.mark.timeout(300)
async def test_merge_with_the_real_local_model(settings: Settings) -> None:
    result = await FusionEngine(settings).run(QUESTION, FusionOptions(mode="merge"))
    assert result.mode.value == "merge"
    assert result.profile == "local"
    check_structure(result)


@pytest.mark.timeout(300)
async def test_best_of_with_the_real_local_model(settings: Settings) -> None:
    result = await FusionEngine(settings).run(QUESTION, FusionOptions(mode="best-of"))
    assert result.mode.value == "best-of"
    check_structure(result)
    if result.judge.status == "ok":
        winner = next(c for c in result.candidates if c.model == result.judge.winner)
        assert result.content == winner.content, "best-of returns the winning answer verbatim"


@pytest.mark.timeout(300)
def test_cli_starts_the_model_itself_and_prints_only_json(tmp_path: Path) -> None:
    config = tmp_path / "evofuse.yaml"
    config.write_text(yaml.safe_dump(repo_config_on_port(free_port())))
    done = subprocess.run(
        [sys.executable, "-m", "evofuse.cli.app", "fuse", "What is 2 + 2?", "--json"],
        cwd=tmp_path,
        env={**os.environ, "EVOFUSE_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # the server's own output must not leak into stdout
    assert result["profile"] == "local"
    assert [c["status"] for c in result["candidates"]] == ["ok"] * 3
    assert (tmp_path / ".evofuse" / "logs" / "llama-server.log").read_text().strip()

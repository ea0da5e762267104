"""A cold `evofuse fuse` process: loading LiteLLM is never charged to a pool member.

LiteLLM's import and the Router's construction take seconds (more on a busy machine). Each
fused member must be timed from its own request, so in a fresh process every member answers
`ok` with a latency close to the upstream's scripted one, whichever member is listed first, and
even when the library takes longer to load than a member's timeout.
"""

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

pytestmark = pytest.mark.slow  # fresh processes that import litellm

LATENCY_MS = {"first": 150, "second": 250, "third": 350}
# Shorter than LiteLLM's import on any machine this runs on: charged to a member, it would time
# out. Generous against a member's own latency, so that a loaded CI machine cannot fail it.
MEMBER_TIMEOUT_S = 3.0
# A loaded machine adds scheduling noise to a call; the seconds of a library import must not.
ALLOWED_EXTRA_MS = 2000.0

SCRIPT = UpstreamScript(
    models={
        **{
            name: ModelBehavior(latency_ms=ms, content=f"{name} says hi")
            for name, ms in LATENCY_MS.items()
        },
        "judge": ModelBehavior(kind="judge", latency_ms=50),
    },
    default=None,
)


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    with upstream_process(SCRIPT) as url:
        yield url


def cold_fuse(folder: Path, url: str, members: list[str], mode: str) -> dict[str, Any]:
    config = {
        "model_list": [
            model_entry(name, url, input_cost_per_token=1e-6, output_cost_per_token=2e-6)
            for name in SCRIPT.models
        ],
        "fusion": {
            "default_profile": "panel",
            "profiles": {
                "panel": {
                    "models": members,
                    "judge": "judge",
                    "mode": mode,
                    "timeout_s": MEMBER_TIMEOUT_S,
                }
            },
        },
    }
    path = folder / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOFUSE_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "evofuse.cli.app",
            "fuse",
            "Say hi.",
            "--json",
            "--config",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=folder,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.mark.parametrize(
    ("members", "mode"),
    [(["first", "second", "third"], "merge"), (["third", "first", "second"], "best-of")],
    ids=["listed-fastest-first", "listed-slowest-first"],
)
def test_every_member_of_a_cold_process_is_timed_from_its_own_request(
    upstream_url: str, tmp_path: Path, members: list[str], mode: str
) -> None:
    result = cold_fuse(tmp_path, upstream_url, members, mode)

    candidates = {c["model"]: c for c in result["candidates"]}
    assert {m: c["status"] for m, c in candidates.items()} == dict.fromkeys(members, "ok")
    for name, candidate in candidates.items():
        scripted = LATENCY_MS[name]
        assert scripted <= candidate["latency_ms"] < scripted + ALLOWED_EXTRA_MS, candidate
    judge = result["judge"]
    assert judge["status"] == "ok"
    assert judge["latency_ms"] < 50 + ALLOWED_EXTRA_MS

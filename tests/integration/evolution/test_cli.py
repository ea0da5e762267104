"""`evofuse evolve` as separate processes: one cycle at a time across processes, stored reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from evofuse.skills import Library
from tests.integration.evolution.conftest import SKILL, Env, poor_outcomes

EVOFUSE = Path(sys.executable).with_name("evofuse")


def _config(env: Env, tmp_path: Path) -> Path:
    seeds = tmp_path / "seeds" / "sql-review"
    seeds.mkdir(parents=True)
    (seeds / "SKILL.md").write_text(SKILL, encoding="utf-8")
    raw = env.settings.model_dump(mode="json", exclude_none=True)
    raw["skills"]["dir"] = str(tmp_path / "seeds")
    path = tmp_path / "evofuse.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    # Open the deployment's index once, so the two processes below find its collections made.
    library = Library.from_settings(env.settings)
    library.sync_index()
    library.close()
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "ANONYMIZED_TELEMETRY": "False"}


def _evofuse(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(EVOFUSE), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def test_two_evolve_processes_at_once_run_one_cycle(env: Env, tmp_path: Path) -> None:
    env.publish()
    poor_outcomes(env, ["alice", "bob", "carol"])
    env.held_out_tasks(4)
    config = _config(env, tmp_path)
    for name in ("m1", "m2"):  # a cycle that lasts a few seconds, so the two overlap
        env.upstream.script.models[name].latency_ms = 700

    processes = [_evofuse("evolve", "--json", "--config", str(config)) for _ in range(2)]
    results = [(p.wait(timeout=100), *p.communicate()) for p in processes]

    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    ran = next(out for code, out, _ in results if code == 0)
    refused = next(err for code, _, err in results if code == 2)
    report = json.loads(ran)
    assert report["status"] == "finished"
    assert report["proposals"][0]["status"] == "promoted"
    assert "An evolution cycle is already running" in refused
    assert report["id"] == 1 and "the lease is held by" in refused
    # The holder attaches its cycle id right after taking the lease; a refusal in between names
    # the holder alone. When it does name a cycle, it is the one that ran.
    if "(cycle " in refused:
        assert f"(cycle {report['id']})" in refused

    listed = subprocess.run(
        [str(EVOFUSE), "evolve", "list", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
        timeout=60,
    )
    assert [c["id"] for c in json.loads(listed.stdout)] == [1]
    shown = subprocess.run(
        [str(EVOFUSE), "evolve", "show", "1", "--config", str(config)],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
        timeout=60,
    )
    assert "Evolution cycle 1" in shown.stdout
    assert "evolver: improve sql-review v1 → promoted" in shown.stdout
    assert "✓ replay: 3 won, 0 lost" in shown.stdout
    missing = subprocess.run(
        [str(EVOFUSE), "evolve", "show", "99", "--config", str(config)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert missing.returncode == 2 and "No evolution run 99." in missing.stderr


def test_evolve_dry_run_prints_what_the_gate_decided(env: Env, tmp_path: Path) -> None:
    env.publish()
    poor_outcomes(env, ["alice", "bob", "carol"])
    env.held_out_tasks(4)
    env.brain.evolver = "harmful"
    config = _config(env, tmp_path)

    done = subprocess.run(
        [str(EVOFUSE), "evolve", "--dry-run", "--config", str(config)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=100,
    )

    assert done.returncode == 0, done.stderr
    assert "(dry run: nothing published)" in done.stdout
    assert "→ rejected: replay: 0 won, 3 lost" in done.stdout
    assert "✗ replay" in done.stdout

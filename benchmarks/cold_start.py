"""How long does a fresh EvoFuse process take, and is any model call charged for start-up?

Three one-shot measurements, each in a new process (nothing cached in memory; the OS file
cache is warm after the first run, as it is for a user who runs commands one after another):

- `import litellm` alone: the library's own import, the floor that EvoFuse cannot go below.
- `evofuse fuse PROMPT --json` against a scripted upstream in its own process (members answer
  after 100/200/400 ms, the judge after 100 ms): wall time minus the physical floor
  (slowest member + judge = 500 ms), and each member's recorded latency minus its scripted one.
- `evofuse serve`: seconds from the command to the first `/healthz` 200, and to `/healthz`
  reporting `models: ready` (LiteLLM loaded and the Router built, in a thread meanwhile). The
  data folder is made once beforehand, so every measured start is a restart.

The warm, in-process figures (the same fusion in a long-lived process) are the fusion-overhead
benchmark's; they are not repeated here.

    .venv/bin/python benchmarks/cold_start.py --runs 5 --json-out cold_start.json

The Markdown table goes to stdout, progress to stderr. With --check, exits 1 when a target is
missed: fuse wall time <= floor + 6 s, every member within 100 ms of its scripted latency,
`/healthz` 200 within 6 s (medians).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console

from bench_common import machine_facts
from evofuse.testing import ModelBehavior, UpstreamScript, model_entry, upstream_process

REPO = Path(__file__).resolve().parents[1]
MEMBERS = {"m100": 100, "m200": 200, "m400": 400}
JUDGE_MS = 100
FUSE = [sys.executable, "-m", "evofuse.cli.app", "fuse"]
FLOOR_MS = max(MEMBERS.values()) + JUDGE_MS
TARGET_FUSE_OVER_FLOOR_S = 6.0
TARGET_MEMBER_ERROR_MS = 100.0
TARGET_HEALTHZ_S = 6.0
# Two-sided 95 % Student t quantiles by degrees of freedom (runs - 1).
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}

SCRIPT = UpstreamScript(
    models={
        **{name: ModelBehavior(latency_ms=ms) for name, ms in MEMBERS.items()},
        "judge": ModelBehavior(kind="judge", latency_ms=JUDGE_MS),
    },
    default=None,
)


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, mean and the 95 % confidence interval of the mean."""
    mean = statistics.fmean(values)
    half = 0.0
    if len(values) > 1:
        t = T95.get(len(values) - 1, 1.96)
        half = t * statistics.stdev(values) / math.sqrt(len(values))
    return {
        "median": statistics.median(values),
        "mean": mean,
        "ci95_low": mean - half,
        "ci95_high": mean + half,
        "min": min(values),
        "max": max(values),
    }


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOFUSE_")}
    env.update(NO_COLOR="1", COLUMNS="200")
    return env


def write_config(folder: Path, url: str) -> Path:
    config = {
        "model_list": [
            model_entry(name, url, input_cost_per_token=1e-6, output_cost_per_token=2e-6)
            for name in SCRIPT.models
        ],
        "fusion": {
            "default_profile": "panel",
            "profiles": {
                "panel": {
                    "models": list(MEMBERS),
                    "judge": "judge",
                    "mode": "merge",
                    "timeout_s": 30,
                }
            },
        },
        "storage": {
            "database_url": f"sqlite:///{folder / 'data' / 'evofuse.db'}",
            "chroma": str(folder / "data" / "chroma"),
        },
        "skills": {"dir": str(REPO / "skills")},
        "auth": {"enabled": False},
        "graphs": str(REPO / "langgraph.json"),
    }
    (folder / "data").mkdir(exist_ok=True)
    path = folder / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def import_litellm_s() -> float:
    code = (
        "import os, time; os.environ.setdefault('LITELLM_LOCAL_MODEL_COST_MAP', 'True'); "
        "t = time.perf_counter(); import litellm; print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=child_env()
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_fuse(config: Path) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [*FUSE, "Say hi.", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=config.parent,
        check=False,
    )
    wall_ms = (time.perf_counter() - started) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"evofuse fuse failed:\n{proc.stderr}")
    result = json.loads(proc.stdout)
    errors = {}
    for c in result["candidates"]:
        if c["status"] != "ok":
            raise RuntimeError(f"member {c['model']} ended {c['status']}: {c['error']}")
        errors[c["model"]] = c["latency_ms"] - MEMBERS[c["model"]]
    return {"wall_ms": wall_ms, "member_error_ms": errors}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_start(config: Path, timeout_s: float = 180.0) -> dict[str, float]:
    """Seconds to the first /healthz 200 and to models: ready."""
    port = free_port()
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "evofuse.cli.app", "serve", "--port", str(port)]
    cmd += ["--no-access-log", "--config", str(config)]
    healthy: float | None = None
    with subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_env(),
        cwd=config.parent,
    ) as proc:
        try:
            with httpx.Client(timeout=2.0) as client:
                while time.perf_counter() - started < timeout_s:
                    if proc.poll() is not None:
                        raise RuntimeError(f"evofuse serve exited with {proc.returncode}")
                    try:
                        response = client.get(f"http://127.0.0.1:{port}/healthz")
                    except httpx.TransportError:
                        time.sleep(0.02)
                        continue
                    now = time.perf_counter() - started
                    if response.status_code == 200 and healthy is None:
                        healthy = now
                    if response.status_code == 200 and response.json().get("models") == "ready":
                        return {"healthz_s": healthy or now, "ready_s": now}
                    time.sleep(0.02)
            raise RuntimeError(f"evofuse serve was not ready within {timeout_s:.0f} s")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def table(results: dict[str, Any], facts: dict[str, Any]) -> str:
    def row(label: str, values: dict[str, float], unit: str, target: str, met: bool | None) -> str:
        verdict = "—" if met is None else "yes" if met else "no"
        return (
            f"| {label} | {values['median']:.{0 if unit == 'ms' else 2}f} {unit} "
            f"| {values['mean']:.{0 if unit == 'ms' else 2}f} "
            f"[{values['ci95_low']:.{0 if unit == 'ms' else 2}f}, "
            f"{values['ci95_high']:.{0 if unit == 'ms' else 2}f}] "
            f"| {values['min']:.{0 if unit == 'ms' else 2}f} to "
            f"{values['max']:.{0 if unit == 'ms' else 2}f} | {target} | {verdict} |"
        )

    runs = results["runs"]
    s = results["summary"]
    lines = [
        "| one-shot, new process | median | mean [95 % CI] | range | target | met (every run) |",
        "|---|---:|---:|---:|---|:---:|",
        row("`import litellm` alone", s["import_litellm_s"], "s", "—", None),
        row(
            "`evofuse fuse --json` wall time",
            s["fuse_wall_s"],
            "s",
            f"≤ floor + {TARGET_FUSE_OVER_FLOOR_S:.0f} s",
            s["fuse_wall_s"]["max"] <= FLOOR_MS / 1000 + TARGET_FUSE_OVER_FLOOR_S,
        ),
        row("... minus `import litellm` alone", s["fuse_minus_import_s"], "s", "—", None),
    ]
    for name in MEMBERS:
        stats = s[f"member_error_ms_{name}"]
        lines.append(
            row(
                f"member {name}: recorded - scripted latency",
                stats,
                "ms",
                f"≤ {TARGET_MEMBER_ERROR_MS:.0f} ms",
                stats["max"] <= TARGET_MEMBER_ERROR_MS,
            )
        )
    lines += [
        row(
            "`evofuse serve` → `/healthz` 200",
            s["healthz_s"],
            "s",
            f"≤ {TARGET_HEALTHZ_S:.0f} s",
            s["healthz_s"]["max"] <= TARGET_HEALTHZ_S,
        ),
        row("`evofuse serve` → `/healthz` models: ready", s["ready_s"], "s", "—", None),
        "",
        f"{runs} runs of each, interleaved; floor = slowest member + judge = {FLOOR_MS} ms. "
        f"Machine: nproc={facts['nproc']} ({facts['cpu']}), Python {facts['python']}, LiteLLM "
        f"{facts['litellm']}; 1-min load average {facts['loadavg_1min'][0]} before, "
        f"{facts['loadavg_1min'][1]} after.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each measurement")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    err = Console(stderr=True)
    load_before = os.getloadavg()[0]
    samples: dict[str, list[float]] = {
        "import_litellm_s": [],
        "fuse_wall_s": [],
        "fuse_minus_import_s": [],
        "healthz_s": [],
        "ready_s": [],
        **{f"member_error_ms_{name}": [] for name in MEMBERS},
    }
    with upstream_process(SCRIPT) as url, tempfile.TemporaryDirectory() as folder:
        config = write_config(Path(folder), url)
        err.print("first start (creates the database and imports the seed skills)…")
        serve_start(config)
        for run in range(args.runs):
            err.print(f"run {run + 1}/{args.runs}", highlight=False)
            imported = import_litellm_s()
            samples["import_litellm_s"].append(imported)
            fused = cold_fuse(config)
            samples["fuse_wall_s"].append(fused["wall_ms"] / 1000)
            samples["fuse_minus_import_s"].append(fused["wall_ms"] / 1000 - imported)
            for name, error in fused["member_error_ms"].items():
                samples[f"member_error_ms_{name}"].append(error)
            started = serve_start(config)
            samples["healthz_s"].append(started["healthz_s"])
            samples["ready_s"].append(started["ready_s"])
    facts = machine_facts() | {
        "litellm": metadata.version("litellm"),
        "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    results = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "runs": args.runs,
        "floor_ms": FLOOR_MS,
        "machine": facts,
        "summary": {key: summary(values) for key, values in samples.items()},
        "samples": samples,
    }
    print(table(results, facts))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    s = results["summary"]
    # Every run must meet a target, not the median one: the slowest run is checked.
    missed = []
    if s["fuse_wall_s"]["max"] > FLOOR_MS / 1000 + TARGET_FUSE_OVER_FLOOR_S:
        missed.append(f"fuse wall time up to {s['fuse_wall_s']['max']:.2f} s")
    missed += [
        f"member {name} up to +{s[f'member_error_ms_{name}']['max']:.0f} ms"
        for name in MEMBERS
        if s[f"member_error_ms_{name}"]["max"] > TARGET_MEMBER_ERROR_MS
    ]
    if s["healthz_s"]["max"] > TARGET_HEALTHZ_S:
        missed.append(f"/healthz after up to {s['healthz_s']['max']:.2f} s")
    for miss in missed:
        err.print(f"[yellow]target missed:[/] {miss}", highlight=False)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())

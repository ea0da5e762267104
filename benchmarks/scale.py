"""Does an evolution cycle slow down chat? Chat latency with and without a cycle running.

One `evofuse serve` process (one uvicorn worker, SQLite) over a scripted upstream in its own
process: chat members and judge answer after `--latency-ms`, the evolution models at once (so
the cycle is as CPU-dense as it gets: SQL aggregation over `--runs` recorded runs, scrubbing,
embedding and clustering the task pool, and the fusion engine's own work per call). A closed
loop of `--concurrency` clients sends `fusion/p` chat requests. Slices alternate:

- **idle**: no cycle, for as long as the cycle slice before it lasted;
- **cycle**: `POST /v1/evolution/runs` (a dry run, so every repetition sees the same library),
  then load until the cycle has finished; only requests that started and ended while it ran
  count.

Reported: p50/p95/p99 per condition with bootstrap 95 % intervals, and p99 with a cycle over p99
without (target: within 20 %). Client, server and upstream share the machine.

    .venv/bin/python benchmarks/scale.py                       # ~3 minutes
    .venv/bin/python benchmarks/scale.py --runs 50000 --reps 6 --json-out scale.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench_common import (
    Load,
    bootstrap,
    env,
    estimate,
    interval,
    load_average,
    machine_facts,
    make_key,
    percentile,
    server,
)
from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, model_entry, upstream_process
from evolution import _populate

REPO = Path(__file__).resolve().parents[1]
ANSWER = "The answer is four, because two plus two is four."


def write_config(folder: Path, upstream_url: str) -> tuple[Path, dict[str, Any]]:
    price = {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7}
    config = {
        "model_list": [
            model_entry(n, upstream_url, **price) for n in ("m1", "m2", "j", "e1", "e2", "ej")
        ],
        "fusion": {
            "default_profile": "p",
            "profiles": {
                "p": {"models": ["m1", "m2"], "judge": "j", "mode": "merge"},
                "evo": {"models": ["e1", "e2"], "judge": "ej", "mode": "merge"},
            },
        },
        "storage": {"database_url": f"sqlite:///{folder}/evofuse.db", "chroma": str(folder / "c")},
        "skills": {"dir": str(REPO / "skills")},
        "graphs": str(REPO / "langgraph.json"),
        "evolution": {"profile": "evo", "max_cost_usd": 100.0},
        "auth": {"enabled": True},
    }
    path = folder / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path, config


def seed(config: dict[str, Any], runs: int) -> None:
    """The seed skills and `runs` recorded runs (as benchmarks/evolution.py records them)."""
    from evofuse.config.loader import settings_from_mapping
    from evofuse.services import Services

    services = Services.from_settings(settings_from_mapping(config))
    try:
        _populate(services.store, services.library, runs, random.Random(runs))
    finally:
        services.close()


async def measure(args: argparse.Namespace, url: str, key: str, admin: str) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.concurrency + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        load = Load(client, key, args.concurrency)
        admin_headers = {"Authorization": f"Bearer {admin}"}
        idle: list[float] = []
        during: list[float] = []
        cycles: list[float] = []
        # Rep 0 warms up (the first cycle loads the scrubber and the evolution engine); it
        # does not count.
        for rep in range(args.reps + 1):
            state: dict[str, Any] = {}

            async def cycle_runs(state: dict[str, Any] = state) -> None:
                started = await client.post(
                    "/v1/evolution/runs", json={"dry_run": True}, headers=admin_headers
                )
                started.raise_for_status()
                cycle_id = started.json()["id"]
                while True:
                    await asyncio.sleep(0.2)
                    report = await client.get(
                        f"/v1/evolution/runs/{cycle_id}", headers=admin_headers
                    )
                    if report.json()["status"] != "running":
                        state["report"] = report.json()
                        return

            start, end = await load.run_while(cycle_runs)
            status = state["report"]["status"]
            if status != "finished":
                raise SystemExit(f"cycle {state['report']['id']} ended {status}: {state['report']}")
            seconds = end - start
            if rep > 0:
                during += load.within(start, end)
                cycles.append(seconds)
            start, end = await load.run_while(lambda s=seconds: asyncio.sleep(s))
            if rep > 0:
                idle += load.within(start, end)
            print(
                f"rep {rep}/{args.reps}: cycle {seconds:.1f} s, "
                f"{len(during)} requests during cycles, {len(idle)} without",
                file=sys.stderr,
            )
    rng = random.Random(7)
    out: dict[str, Any] = {"cycle_s": [round(c, 2) for c in cycles], "errors": load.errors}
    for name, values in (("idle", idle), ("cycle", during)):
        out[name] = {"requests": len(values)}
        for q in (50, 95, 99):
            out[name][f"p{q}"] = estimate(values, q, rng)
    ratios = [
        c / i for c, i in zip(bootstrap(during, 99, rng), bootstrap(idle, 99, rng), strict=True)
    ]
    low, high = interval(ratios)
    point = percentile(during, 99) / percentile(idle, 99)
    out["p99_ratio"] = [round(point, 3), round(low, 3), round(high, 3)]
    out["mean_ms"] = {"idle": statistics.fmean(idle), "cycle": statistics.fmean(during)}
    return out


def markdown(args: argparse.Namespace, result: dict[str, Any]) -> str:
    def cell(v: list[float]) -> str:
        return f"{v[0]:.0f} ms ({v[1]:.0f} to {v[2]:.0f})"

    rows = [
        "| chat requests | n | p50 | p95 | p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (("idle", "no cycle running"), ("cycle", "during a cycle")):
        r = result[name]
        rows.append(
            f"| {label} | {r['requests']} | {cell(r['p50'])} | {cell(r['p95'])} | "
            f"{cell(r['p99'])} |"
        )
    ratio = result["p99_ratio"]
    facts = result["facts"]
    cycles = result["cycle_s"]
    rows += [
        "",
        f"p99 during a cycle / p99 without: **{ratio[0]:.2f}** (95 % CI {ratio[1]:.2f} to "
        f"{ratio[2]:.2f}; target ≤ 1.20). Bootstrap intervals in brackets. {args.reps} cycles "
        f"over {args.runs:,} recorded runs took {min(cycles):.1f} to {max(cycles):.1f} s each; "
        f"{args.concurrency} clients; members and judge answer after {args.latency_ms:g} ms; "
        f"{result['errors']} errors. {facts['nproc']} cores ({facts['cpu']}), Python "
        f"{facts['python']}, EvoFuse {facts['evofuse']}; 1-min load average "
        f"{facts['load_before']} before, {facts['load_after']} after.",
    ]
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="recorded runs to evolve over")
    parser.add_argument("--reps", type=int, default=5, help="cycles (and idle slices)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    facts = {**machine_facts(), "evofuse": metadata.version("evofuse")}
    facts["load_before"] = load_average()
    chat = ModelBehavior(latency_ms=args.latency_ms, content=ANSWER)
    script = UpstreamScript(
        models={
            "m1": chat,
            "m2": chat,
            "j": JUDGE.model_copy(update={"latency_ms": args.latency_ms}),
            "e1": ModelBehavior(content="(not a proposal)"),
            "e2": ModelBehavior(content="(not a proposal)"),
            "ej": JUDGE,
        }
    )
    with tempfile.TemporaryDirectory() as tmp, upstream_process(script, env=env()) as upstream:
        config, mapping = write_config(Path(tmp), upstream)
        print(f"recording {args.runs:,} runs…", file=sys.stderr)
        seed(mapping, args.runs)
        key, admin = make_key(config), make_key(config, "--operator")
        with server(config, args.port) as url:
            result = asyncio.run(measure(args, url, key, admin))
    facts["load_after"] = load_average()
    result["facts"] = facts
    result["args"] = {k: str(v) for k, v in vars(args).items()}
    print(markdown(args, result))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

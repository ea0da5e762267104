"""Requests per second of `evofuse serve` at concurrency 64: through LiteLLM's Router or not, with
one uvicorn worker or two.

Three servers run at once, each with its own database, against one scripted upstream (its own
process; every member and the judge answer after `--latency-ms`), and take turns in slices
(rotating order) so a busy spell of the shared machine slows each a little:

- **Router, 1 worker**: every deployment carries `model_info`, so every model call goes through
  LiteLLM's Router, as every call did before one-deployment names were called directly;
- **direct, 1 worker**: the shipped path (`litellm.acompletion` for one-deployment names);
- **direct, 2 workers**: the same with `evofuse serve --workers 2`.

The request is the endpoint benchmark's (`model: "fusion/p"`: two members and a merge judge,
three model calls). Throughput is requests per second of wall time; CPU per request is that of
the server's whole process tree (the workers included). Client, upstream and servers share the
machine's cores, so two workers cannot reach twice one worker's throughput on 2 cores: the
client and the upstream need CPU too.

    .venv/bin/python benchmarks/throughput.py                    # ~4 minutes
    .venv/bin/python benchmarks/throughput.py --json-out throughput.json --slices 8
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import yaml

from endpoint import (
    Series,
    err,
    facts,
    http_side,
    load,
    make_key,
    process_cpu_s,
    run_loop,
    server,
    upstream,
    write_config,
)

SIDES = {
    "Router, 1 worker": {"router": True, "workers": 1},
    "direct, 1 worker": {"router": False, "workers": 1},
    "direct, 2 workers": {"router": False, "workers": 2},
}


def side_config(folder: Path, upstream_url: str, *, router: bool) -> Path:
    path = write_config(folder, upstream_url)
    if router:
        # `model_info` is one of the things only the Router handles: a deployment that has it
        # is called through the Router.
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        for deployment in config["model_list"]:
            deployment["model_info"] = {"id": f"{deployment['model_name']}-1"}
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and all its descendants (the uvicorn workers)."""
    total = process_cpu_s(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        total += sum(tree_cpu_s(int(child)) for child in children)
    return total


async def measure(
    args: argparse.Namespace, servers: dict[str, tuple[str, int, str]]
) -> tuple[dict[str, Series], dict[str, list[float]]]:
    """Each server's requests merged over its slices, and its throughput slice by slice."""
    # Idle connections expire before uvicorn's 5 s keep-alive (see endpoint.py).
    limits = httpx.Limits(
        max_connections=args.concurrency + 8, max_keepalive_connections=100, keepalive_expiry=2.0
    )
    parts: dict[str, list[Series]] = {name: [] for name in servers}
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        calls = {name: http_side(client, url, key) for name, (url, _, key) in servers.items()}
        for name, call in calls.items():  # connections, caches, every worker's first calls
            await load(call, args.concurrency, args.concurrency * 4)
            err.print(f"warmed up: {name}")
        names = list(servers)
        for i in range(args.slices):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                pid = servers[name][1]
                cpu = functools.partial(tree_cpu_s, pid)
                part = await load(calls[name], args.concurrency, args.slice_requests, cpu)
                parts[name].append(part)
                err.print(
                    f"slice {i + 1}/{args.slices} {name:<18} {part.throughput:6.1f} req/s  "
                    f"CPU {part.cpu_ms:5.1f} ms/request  p50 {part.median:7.1f} ms"
                )
    merged = {
        name: Series(
            [x for part in series for x in part.latencies],
            sum(part.wall_s for part in series),
            sum(part.cpu_s for part in series),
        )
        for name, series in parts.items()
    }
    return merged, {name: [part.throughput for part in series] for name, series in parts.items()}


def interval(values: list[float]) -> tuple[float, float]:
    """A 95 % interval of the median of per-slice values (order statistics; wide for few)."""
    ordered = sorted(values)
    n = len(ordered)
    half = 1.96 * math.sqrt(n) / 2
    low = max(0, math.floor(n / 2 - half))
    high = min(n - 1, math.ceil(n / 2 + half) - 1)
    return ordered[low], ordered[high]


def markdown(
    results: dict[str, Series], slices: dict[str, list[float]], info: dict[str, Any], args: Any
) -> str:
    base = results["Router, 1 worker"].throughput
    lines = [
        "| server | requests | throughput | per-slice median [95 % CI] | vs Router, 1 worker "
        "| CPU per request (server) | p50 latency |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, series in results.items():
        low, high = interval(slices[name])
        lines.append(
            f"| {name} | {len(series.latencies)} | {series.throughput:.1f} req/s "
            f"| {statistics.median(slices[name]):.1f} [{low:.1f}, {high:.1f}] "
            f"| {series.throughput / base:.2f}x | {series.cpu_ms:.1f} ms | {series.median:.0f} ms |"
        )
    lines += [
        "",
        f"Concurrency {args.concurrency}, {args.slices} slices of {args.slice_requests} requests "
        f"per server, in rotating order; every model call answers after {args.latency_ms:g} ms "
        f"(floor ≈ {2 * args.latency_ms:g} ms). {info['nproc']} cores ({info['cpu']}), Python "
        f"{info['python']}, LiteLLM {info['litellm']}, uvicorn {info['uvicorn']} "
        f"({info['loop']}); client, upstream and servers share the machine "
        f"(1-min load average {args.load_before:.2f} before, {info['loadavg_1min']} after).",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--slices", type=int, default=6, help="turns each server takes")
    parser.add_argument("--slice-requests", type=int, default=256)
    parser.add_argument("--latency-ms", type=float, default=500.0, help="of every model call")
    parser.add_argument("--chunk-chars", type=int, default=64, help="streamed chunk size")
    parser.add_argument("--port", type=int, default=8791, help="first of three ports")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory() as folder,
        upstream(args.latency_ms, args.chunk_chars) as url,
        ExitStack() as stack,
    ):
        servers: dict[str, tuple[str, int, str]] = {}
        for i, (name, side) in enumerate(SIDES.items()):
            config = side_config(Path(folder, f"side-{i}"), url, router=bool(side["router"]))
            key = make_key(config)
            err.print(f"starting {name}...")
            server_url, pid = stack.enter_context(
                server(config, args.port + i, workers=int(side["workers"]), models_ready=True)
            )
            servers[name] = (server_url, pid, key)
        results, slices = run_loop(measure(args, servers))
    info = facts()
    print(markdown(results, slices, info, args))
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {
                    "command": " ".join([Path(sys.executable).name, *sys.argv]),
                    "machine": info,
                    "load_before": args.load_before,
                    "sides": {
                        name: {
                            "requests": len(s.latencies),
                            "throughput_rps": s.throughput,
                            "cpu_ms_per_request": s.cpu_ms,
                            "p50_ms": s.median,
                            "slices_rps": slices[name],
                        }
                        for name, s in results.items()
                    },
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

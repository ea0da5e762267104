"""What does the HTTP endpoint add over running the same graph in-process?

A scripted OpenAI-compatible upstream (its own process, 127.0.0.1) answers every member and the
judge after a fixed delay. The graph behind `model: "fusion/p"` (two members + a judge, merge)
runs at concurrency 1, 16 and 64, three ways:

- **in-process**: `Runner.run()` on that graph, with the same Runner the API builds (run records
  in SQLite, no checkpoints): the floor for anything that serves it.
- **HTTP**: `evofuse serve` (its own process, one uvicorn worker, no access log) called with
  httpx from this process, with an API key without limits.
- **HTTP + limits**: the same with a key that has a rate limit and a daily budget (both far
  above what the run uses), so every request also reserves and settles its budget in SQL.

The sides take turns in slices (rotating order) at each level; added latency = a side's median
minus the in-process median, throughput = requests per second of wall time. The CPU time per
request of the process that runs the graph (this one in-process, the server's over HTTP) shows
what the HTTP layer costs without the noise of a shared machine's scheduling. Model calls take
500 ms by default (a fast real model): with much shorter calls, 16 concurrent requests already
saturate the CPU of either process on 2 cores (LiteLLM costs ~10 ms of CPU per call), and the
medians then measure queueing, not the HTTP layer.

    .venv/bin/python benchmarks/endpoint.py                 # Markdown table on stdout
    .venv/bin/python benchmarks/endpoint.py --json-out endpoint.json --requests 100
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml
from rich.console import Console

from bench_common import machine_facts
from evofuse.api.state import ApiState
from evofuse.config.loader import load_settings
from evofuse.services import Services
from evofuse.testing import ModelBehavior, UpstreamScript, model_entry, upstream_process

REPO = Path(__file__).resolve().parents[1]
EVOFUSE = Path(sys.executable).with_name("evofuse")
TARGET_MS = 5.0  # median added at concurrency 16
MESSAGES = [{"role": "user", "content": "Explain in two sentences why the sky is blue."}]
ANSWER = "Sunlight scatters off air molecules; blue light, with its short wavelength, most."
err = Console(stderr=True, highlight=False)
T = TypeVar("T")


@dataclass
class Series:
    """One side at one concurrency: latencies (ms) and the wall time they took."""

    latencies: list[float]
    wall_s: float
    cpu_s: float  # CPU time of the process that ran the graph (this one, or the server)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall_s

    @property
    def cpu_ms(self) -> float:
        """CPU per request of the process that ran the graph."""
        return self.cpu_s * 1000 / len(self.latencies)

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)


def env() -> dict[str, str]:
    return {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "EVOFUSE_USER_HASH_SECRET": "benchmark-secret",
        "ANONYMIZED_TELEMETRY": "False",
    }


def upstream(latency_ms: float, chunk_chars: int) -> AbstractContextManager[str]:
    """The scripted upstream in its own process: it must not share a GIL with either side."""
    member = ModelBehavior(latency_ms=latency_ms, content=ANSWER, chunk_chars=chunk_chars)
    judge = ModelBehavior(kind="judge", latency_ms=latency_ms, chunk_chars=chunk_chars)
    script = UpstreamScript(models={"m1": member, "m2": member, "j": judge})
    return upstream_process(script, env=env())


def write_config(folder: Path, upstream_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model_list": [
            model_entry(n, upstream_url, input_cost_per_token=1e-7, output_cost_per_token=2e-7)
            for n in ("m1", "m2", "j")
        ],
        "fusion": {
            "default_profile": "p",
            "profiles": {"p": {"models": ["m1", "m2"], "judge": "j", "mode": "merge"}},
        },
        "storage": {"database_url": f"sqlite:///{folder}/evofuse.db", "chroma": str(folder / "c")},
        "skills": {"dir": str(folder / "no-seed-skills")},  # plain fusion needs none
        "graphs": str(REPO / "langgraph.json"),
        "auth": {"enabled": True},
    }
    path = folder / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def make_key(config: Path, *limits: str) -> str:
    done = subprocess.run(
        [str(EVOFUSE), "keys", "create", "--tenant", "bench", *limits, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env(),
        check=True,
    )
    return done.stdout.strip()


@contextmanager
def server(
    config: Path, port: int, *, workers: int = 1, models_ready: bool = False
) -> Iterator[tuple[str, int]]:
    """`evofuse serve` until the block ends; yields (URL, pid) once `/healthz` answers 200 (and,
    with `models_ready`, says the models are loaded)."""
    log = (config.parent / "server.log").open("wb")
    cmd = [str(EVOFUSE), "serve", "--port", str(port), "--no-access-log", "--config", str(config)]
    cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                health = httpx.get(url + "/healthz", timeout=1)
                if health.status_code == 200 and (
                    not models_ready or health.json().get("models") == "ready"
                ):
                    break
            except (httpx.TransportError, ValueError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"evofuse serve did not start; see {log.name}")
            time.sleep(0.2)
        yield url, proc.pid  # with one worker, the graph runs in this very process
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


Call = Callable[[], Awaitable[None]]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    call: Call, concurrency: int, total: int, cpu: Callable[[], float] = time.process_time
) -> Series:
    """`total` calls by `concurrency` workers; each call's latency in ms."""
    latencies: list[float] = []
    issued = itertools.count()

    async def worker() -> None:
        while next(issued) < total:
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    started, cpu_started = time.perf_counter(), cpu()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Series(latencies, time.perf_counter() - started, cpu() - cpu_started)


async def in_process_side(config: Path) -> tuple[Callable[[], Awaitable[None]], Callable[[], None]]:
    services = Services.from_settings(load_settings(config))
    state = ApiState.build(services)
    await asyncio.to_thread(state.warm_up)
    graph = state.fusion_graphs["p"]

    async def call() -> None:
        result = await state.runner.run(graph, MESSAGES, tenant="bench")
        assert result.answer, "empty answer"

    return call, services.close


def http_side(client: httpx.AsyncClient, url: str, key: str) -> Callable[[], Awaitable[None]]:
    body = {"model": "fusion/p", "messages": MESSAGES}
    headers = {"Authorization": f"Bearer {key}"}

    async def call() -> None:
        response = await client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")

    return call


async def measure(
    args: argparse.Namespace, config: Path, own_config: Path, url: str, server_pid: int
) -> dict[int, dict[str, Series]]:
    """`config` is the server's; `own_config` the same with its own database, for in-process."""
    plain_key = make_key(config)
    limited_key = make_key(config, "--rpm", "1000000", "--daily-budget-usd", "1000000")
    in_process, close = await in_process_side(own_config)
    # Idle connections expire before uvicorn's 5 s keep-alive: with both at 5 s, a connection
    # left idle while the in-process side ran was reused just as the server closed it
    # (httpx.ReadError at concurrency 64 in one run).
    limits = httpx.Limits(
        max_connections=max(args.concurrency) + 8,
        max_keepalive_connections=100,
        keepalive_expiry=2.0,
    )
    results: dict[int, dict[str, Series]] = {}
    try:
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            sides = {
                "in-process": in_process,
                "HTTP": http_side(client, url, plain_key),
                "HTTP + limits": http_side(client, url, limited_key),
            }
            for concurrency in args.concurrency:
                total = max(args.requests, concurrency * args.rounds)
                cpu_of: dict[str, Callable[[], float]] = {
                    "in-process": time.process_time,
                    "HTTP": lambda: process_cpu_s(server_pid),
                    "HTTP + limits": lambda: process_cpu_s(server_pid),
                }
                for call in sides.values():  # warm-up, not counted
                    await load(call, concurrency, max(concurrency, args.warmup))
                # The sides take turns in slices, in rotating order: on a shared machine a busy
                # spell then slows every side a little rather than one side a lot.
                parts: dict[str, list[Series]] = {name: [] for name in sides}
                names = list(sides)
                size = math.ceil(total / args.slices)
                for i in range(args.slices):
                    for name in names[i % 3 :] + names[: i % 3]:
                        clock = cpu_of[name]
                        parts[name].append(await load(sides[name], concurrency, size, clock))
                results[concurrency] = {}
                for name, series_list in parts.items():
                    series = Series(
                        [x for part in series_list for x in part.latencies],
                        sum(part.wall_s for part in series_list),
                        sum(part.cpu_s for part in series_list),
                    )
                    results[concurrency][name] = series
                    err.print(
                        f"c={concurrency:>3} {name:<14} n={len(series.latencies):<4} "
                        f"p50 {series.median:7.1f} ms  p95 {series.pct(0.95):7.1f} ms  "
                        f"{series.throughput:6.1f} req/s  CPU {series.cpu_ms:5.1f} ms/request"
                    )
    finally:
        close()
    return results


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """The event loop uvicorn picks for the server (uvloop when installed), for a fair floor."""
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def facts() -> dict[str, Any]:
    return {
        **machine_facts(),
        "evofuse": metadata.version("evofuse"),
        "fastapi": metadata.version("fastapi"),
        "uvicorn": metadata.version("uvicorn"),
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "litellm": metadata.version("litellm"),
        "loadavg_1min": round(os.getloadavg()[0], 2),  # others' load on a shared machine
    }


def markdown(
    results: dict[int, dict[str, Series]],
    info: dict[str, Any],
    latency: float,
    chunk_chars: int,
    load_before: float,
) -> str:
    lines = [
        "| concurrency | requests | in-process p50 | HTTP p50 | **added p50** | HTTP + limits p50 "
        "| **added p50 (limits)** | CPU per request: in-process / HTTP / + limits "
        "| throughput: in-process / HTTP / + limits |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for concurrency, sides in results.items():
        base, http, limited = sides["in-process"], sides["HTTP"], sides["HTTP + limits"]
        lines.append(
            f"| {concurrency} | {len(http.latencies)} | {base.median:.1f} ms "
            f"| {http.median:.1f} ms | **{http.median - base.median:+.1f} ms** "
            f"| {limited.median:.1f} ms | **{limited.median - base.median:+.1f} ms** "
            f"| {base.cpu_ms:.1f} / {http.cpu_ms:.1f} / {limited.cpu_ms:.1f} ms "
            f"| {base.throughput:.1f} / {http.throughput:.1f} / {limited.throughput:.1f} req/s |"
        )
    lines.append("")
    lines.append(
        f"Upstream: every member and the judge answer after {latency:g} ms, streamed in "
        f"{chunk_chars}-character chunks (floor ≈ "
        f"{2 * latency:g} ms). {info['nproc']} cores ({info['cpu']}), Python {info['python']}, "
        f"EvoFuse {info['evofuse']}, FastAPI {info['fastapi']}, uvicorn {info['uvicorn']} "
        f"({info['loop']} on both sides), "
        f"LiteLLM {info['litellm']}; client, server and upstream share the machine "
        f"(1-min load average {load_before} before, {info['loadavg_1min']} after)."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--requests", type=int, default=32, help="at least this many per level")
    parser.add_argument("--rounds", type=int, default=12, help="…and this many per worker")
    parser.add_argument("--warmup", type=int, default=16)
    parser.add_argument("--slices", type=int, default=8, help="turns each side takes per level")
    parser.add_argument(
        "--chunk-chars", type=int, default=64, help="characters per streamed upstream chunk"
    )
    parser.add_argument("--latency-ms", type=float, default=500.0, help="of every model call")
    parser.add_argument("--port", type=int, default=8781)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 if added p50 at c=16 > {TARGET_MS} ms"
    )
    args = parser.parse_args()
    os.environ.update({k: v for k, v in env().items() if k not in os.environ})
    load_before = round(os.getloadavg()[0], 2)
    with (
        tempfile.TemporaryDirectory() as tmp,
        upstream(args.latency_ms, args.chunk_chars) as upstream_url,
    ):
        config = write_config(Path(tmp, "server"), upstream_url)
        own_config = write_config(Path(tmp, "in-process"), upstream_url)
        with server(config, args.port) as (url, pid):
            results = run_loop(measure(args, config, own_config, url, pid))
    info = facts()
    sys.stdout.write(markdown(results, info, args.latency_ms, args.chunk_chars, load_before) + "\n")
    if args.json_out:
        document = {
            "facts": info,
            "upstream_latency_ms": args.latency_ms,
            "levels": {
                str(c): {
                    name: {
                        "requests": len(s.latencies),
                        "p50_ms": s.median,
                        "p95_ms": s.pct(0.95),
                        "throughput_rps": s.throughput,
                        "cpu_ms_per_request": s.cpu_ms,
                    }
                    for name, s in sides.items()
                }
                for c, sides in results.items()
            },
        }
        args.json_out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    if args.check and 16 in results:
        added = results[16]["HTTP"].median - results[16]["in-process"].median
        return 1 if added > TARGET_MS else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

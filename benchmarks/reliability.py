"""Reliability and hostile input, measured end to end on loopback: what was sent, what came back,
runs lost, 5xx.

One `evofuse serve` process (SQLite, one worker) in front of a scripted OpenAI-compatible
upstream (its own process, 127.0.0.1). Nothing leaves the machine, and every part is bounded.

- **Faults**, one kind at a time, for a pool member and for the judge: failing (HTTP 500),
  rate-limited (429), hanging (never answers; the member timeout is 5 s), garbage (HTML
  instead of JSON), truncated (half a JSON body, or a stream that stops without [DONE]). Half the
  requests stream. A member fault must still give an answer from the healthy member; a judge
  fault must fall back to the fallback judge.
- **Hostile input**: NUL bytes, a lone surrogate, a control character, a 5 MB body (chunked, no
  Content-Length; the default cap is 4 MB), too many messages: 400 or 413, and no run stored.
- **Crash**: streamed requests to a pool that never answers; `kill -9` of the server while they
  run; a new server on the same database must mark every one of them `interrupted`.
- **Load**: N requests (default 2,000) at concurrency 64 to a healthy pool; statuses, latency
  percentiles, throughput, the server's memory before and after.

A run is *lost* when a request that got a run id (the `X-EvoFuse-Run-Id` header) has no row in
the database afterwards, or when its row is still `running` once every request has ended.

    .venv/bin/python benchmarks/reliability.py                    # Markdown table on stdout
    .venv/bin/python benchmarks/reliability.py --per-fault 10 --load 200 --json-out r.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from sqlalchemy import create_engine, text

from bench_common import machine_facts
from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, model_entry, upstream_process

REPO = Path(__file__).resolve().parents[1]
EVOFUSE = Path(sys.executable).with_name("evofuse")
FAULTS = {
    "failing": ModelBehavior(kind="error", status=500),
    "rate-limited": ModelBehavior(kind="error", status=429, message="Rate limit reached"),
    "hanging": ModelBehavior(kind="hang"),
    "garbage": ModelBehavior(kind="garbage"),
    "truncated": ModelBehavior(kind="truncated", content="Paris is the capital of France. " * 4),
}
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
err = Console(stderr=True, highlight=False)


@dataclass
class Row:
    """One line of the report."""

    case: str
    sent: str
    requests: int
    statuses: dict[str, int]
    runs_lost: int
    server_errors: int  # 5xx responses, and streams that ended in an error event
    expected: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)


def env() -> dict[str, str]:
    return {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "EVOFUSE_USER_HASH_SECRET": "reliability-benchmark",
        "ANONYMIZED_TELEMETRY": "False",
    }


def script() -> UpstreamScript:
    models = {
        "ok1": ModelBehavior(content="Paris is the capital of France.", latency_ms=20),
        "ok2": ModelBehavior(content="The capital of France is Paris.", latency_ms=30),
        "j": JUDGE.model_copy(update={"latency_ms": 10.0}),
        "stuck1": ModelBehavior(kind="hang"),
        "stuck2": ModelBehavior(kind="hang"),
    }
    for name, behavior in FAULTS.items():
        models[f"m-{name}"] = behavior
        models[f"j-{name}"] = behavior
    return UpstreamScript(models=models)


def write_config(folder: Path, upstream_url: str) -> Path:
    names = ["ok1", "ok2", "j", "stuck1", "stuck2"] + [
        f"{who}-{fault}" for fault in FAULTS for who in ("m", "j")
    ]
    fast = {"timeout_s": 5, "grace_s": 0.2}
    profiles: dict[str, Any] = {
        "ok": {"models": ["ok1", "ok2"], "judge": "j", "timeout_s": 30},
        "stuck": {"models": ["stuck1", "stuck2"], "judge": "j", "timeout_s": 120},
    }
    for fault in FAULTS:
        profiles[f"member-{fault}"] = {"models": ["ok1", f"m-{fault}"], "judge": "j", **fast}
        profiles[f"judge-{fault}"] = {
            "models": ["ok1", "ok2"],
            "judge": f"j-{fault}",
            "fallback_judge": "j",
            **fast,
        }
    config = {
        "model_list": [model_entry(n, upstream_url) for n in names],
        "fusion": {"default_profile": "ok", "profiles": profiles},
        "storage": {
            "database_url": f"sqlite:///{folder}/evofuse.db",
            "chroma": str(folder / "chroma"),
        },
        "skills": {"dir": str(folder / "no-skills")},
        "graphs": str(REPO / "langgraph.json"),
        "auth": {"enabled": True},
        "api": {"max_messages": 64},  # max_body_bytes: the default, 4 MB
    }
    path = folder / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_key(config: Path) -> str:
    done = subprocess.run(
        [str(EVOFUSE), "keys", "create", "--tenant", "bench", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env(),
        check=True,
        timeout=120,
    )
    key: str = json.loads(done.stdout)["key"]
    return key


@contextmanager
def server(config: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    log = (config.parent / "server.log").open("ab")
    cmd = [str(EVOFUSE), "serve", "--port", str(port), "--no-access-log", "--config", str(config)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env())
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"evofuse serve did not start; see {log.name}")
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        log.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Database:
    """Reads the server's SQLite file (WAL: readers never block the server)."""

    def __init__(self, folder: Path) -> None:
        self.engine = create_engine(f"sqlite:///{folder}/evofuse.db")

    def statuses(self, run_ids: list[str]) -> dict[str, str]:
        if not run_ids:
            return {}
        with self.engine.connect() as conn:
            found: dict[str, str] = {}
            for i in range(0, len(run_ids), 500):
                chunk = run_ids[i : i + 500]
                marks = ",".join(f":r{n}" for n in range(len(chunk)))
                rows = conn.execute(
                    text(f"SELECT id, status FROM runs WHERE id IN ({marks})"),
                    {f"r{n}": run_id for n, run_id in enumerate(chunk)},
                )
                found.update({str(r[0]): str(r[1]) for r in rows})
            return found

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM runs")).scalar_one())


@dataclass
class Outcome:
    status: int
    run_id: str | None
    error_event: bool = False
    degraded: bool = False
    latency_ms: float = 0.0


async def call(
    client: httpx.AsyncClient, key: str, body: dict[str, Any] | bytes, stream: bool
) -> Outcome:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    started = time.perf_counter()
    if isinstance(body, bytes):
        response = await client.post("/v1/chat/completions", content=body, headers=headers)
        return Outcome(response.status_code, response.headers.get("x-evofuse-run-id"))
    if not stream:
        response = await client.post("/v1/chat/completions", json=body, headers=headers)
        degraded = response.status_code == 200 and bool(response.json()["evofuse"]["degraded"])
        return Outcome(
            response.status_code,
            response.headers.get("x-evofuse-run-id"),
            degraded=degraded,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
    async with client.stream(
        "POST", "/v1/chat/completions", json={**body, "stream": True}, headers=headers
    ) as response:
        payload = (await response.aread()).decode()
    events = [line[6:] for line in payload.splitlines() if line.startswith("data: ")]
    error = any(e.startswith('{"error"') for e in events)
    degraded = any('"degraded":true' in e for e in events)
    return Outcome(
        response.status_code,
        response.headers.get("x-evofuse-run-id"),
        error_event=error,
        degraded=degraded,
        latency_ms=(time.perf_counter() - started) * 1000,
    )


async def batch(
    base: str, key: str, bodies: list[tuple[dict[str, Any] | bytes, bool]], concurrency: int
) -> list[Outcome]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(body: dict[str, Any] | bytes, stream: bool) -> Outcome:
            async with gate:
                try:
                    return await call(client, key, body, stream)
                except httpx.HTTPError:  # the server closed or reset the connection
                    return Outcome(0, None, error_event=True)

        return list(await asyncio.gather(*(one(b, s) for b, s in bodies)))


def lost(db: Database, outcomes: list[Outcome]) -> int:
    ids = [o.run_id for o in outcomes if o.run_id]
    found = db.statuses(ids)
    return sum(1 for i in ids if i not in found or found[i] == "running")


def warm_up(base: str, key: str) -> None:
    """Wait until the model library is loaded, then a few calls: what is measured is not the
    first call of a fresh process (cold start has its own benchmark)."""
    deadline = time.monotonic() + 180
    while httpx.get(f"{base}/healthz", timeout=10).json().get("models") != "ready":
        if time.monotonic() > deadline:
            raise SystemExit("the server's models did not become ready in 180 s")
        time.sleep(0.5)
    body = {"model": "fusion/ok", "messages": QUESTION}
    asyncio.run(batch(base, key, [(body, i % 2 == 1) for i in range(4)], 2))


def faults(base: str, key: str, db: Database, per_fault: int) -> list[Row]:
    rows = []
    for who in ("member", "judge"):
        for fault in FAULTS:
            body = {"model": f"fusion/{who}-{fault}", "messages": QUESTION}
            bodies: list[tuple[dict[str, Any] | bytes, bool]] = [
                (body, i % 2 == 1) for i in range(per_fault)
            ]
            outcomes = asyncio.run(batch(base, key, bodies, 8))
            statuses = Counter(str(o.status) for o in outcomes)
            server_errors = sum(1 for o in outcomes if o.status >= 500 or o.error_event)
            runs_lost = lost(db, outcomes)
            answered = sum(1 for o in outcomes if o.status == 200 and not o.error_event)
            degraded = sum(1 for o in outcomes if o.degraded)
            rows.append(
                Row(
                    case=f"{who} {fault}",
                    sent=f"{per_fault} requests (half streamed), one {who} {fault}",
                    requests=per_fault,
                    statuses=dict(statuses),
                    runs_lost=runs_lost,
                    server_errors=server_errors,
                    expected="every request answered (degraded), 0 lost, 0 5xx",
                    ok=answered == per_fault and runs_lost == 0 and server_errors == 0,
                    detail={"answered": answered, "degraded": degraded},
                )
            )
            err.print(f"  {who} {fault}: {dict(statuses)}, lost {runs_lost}")
    return rows


def hostile(base: str, key: str, db: Database) -> list[Row]:
    before = db.count()
    plain = {"model": "fusion/ok"}
    cases: list[tuple[str, str, dict[str, Any] | bytes, str]] = [
        (
            "NUL byte",
            "content with \\u0000",
            {**plain, "messages": [{"role": "user", "content": "a\x00b"}]},
            "400",
        ),
        (
            "lone surrogate",
            "content with \\ud800",
            json.dumps({**plain, "messages": [{"role": "user", "content": "a\ud800b"}]}).encode(),
            "400",
        ),
        (
            "control character",
            "content with ESC",
            {**plain, "messages": [{"role": "user", "content": "\x1b[2J"}]},
            "400",
        ),
        ("too many messages", "65 messages (cap 64)", {**plain, "messages": QUESTION * 65}, "400"),
        ("5 MB body", "5 MB body, no Content-Length (cap 4 MB)", b"", "413"),
    ]
    rows = []
    for name, sent, body, expected in cases:
        if name == "5 MB body":
            outcome = asyncio.run(_chunked(base, key, 5_000_000))
        else:
            [outcome] = asyncio.run(batch(base, key, [(body, False)], 1))
        rows.append(
            Row(
                case=f"hostile: {name}",
                sent=sent,
                requests=1,
                statuses={str(outcome.status): 1},
                runs_lost=0,
                server_errors=int(outcome.status >= 500),
                expected=f"{expected}, nothing stored",
                ok=str(outcome.status) == expected,
            )
        )
    stored = db.count() - before
    for row in rows:
        row.detail["runs_stored_by_all_hostile_cases"] = stored
        row.ok = row.ok and stored == 0
    return rows


async def _chunked(base: str, key: str, size: int) -> Outcome:
    async def chunks() -> Any:
        yield b'{"model": "fusion/ok", "messages": [{"role": "user", "content": "'
        for _ in range(size // 65_536):
            yield b"x" * 65_536
        yield b'"}]}'

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        try:
            response = await client.post("/v1/chat/completions", content=chunks(), headers=headers)
        except httpx.HTTPError:
            return Outcome(0, None)
    return Outcome(response.status_code, None)


def crash(config: Path, db: Database, key: str, n: int) -> Row:
    """Streams to a pool that never answers, kill -9 mid-run, a new server marks them."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    run_ids: list[str] = []

    async def start_streams() -> list[asyncio.Task[None]]:
        client = httpx.AsyncClient(base_url=base, timeout=300)
        headers = {"Authorization": f"Bearer {key}"}
        body = {"model": "fusion/stuck", "messages": QUESTION, "stream": True}
        opened: asyncio.Queue[str] = asyncio.Queue()

        async def one() -> None:
            try:
                async with client.stream(
                    "POST", "/v1/chat/completions", json=body, headers=headers
                ) as response:
                    await opened.put(response.headers.get("x-evofuse-run-id", ""))
                    async for _ in response.aiter_bytes():
                        pass
            except httpx.HTTPError:
                pass

        tasks = [asyncio.ensure_future(one()) for _ in range(n)]
        for _ in range(n):
            run_ids.append(await asyncio.wait_for(opened.get(), 60))
        return tasks

    with server(config, port) as proc:
        loop = asyncio.new_event_loop()
        tasks = loop.run_until_complete(start_streams())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # every run row written before the crash
            if len(db.statuses(run_ids)) == n:
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.close()
    with server(config, free_port()):
        found = db.statuses(run_ids)
    statuses = Counter(found.get(i, "missing") for i in run_ids)
    runs_lost = sum(1 for i in run_ids if found.get(i) in (None, "running"))
    return Row(
        case="crash: kill -9 mid-run",
        sent=f"{n} streamed requests to a pool that never answers, then kill -9 of the server",
        requests=n,
        statuses={f"run {k}": v for k, v in statuses.items()},
        runs_lost=runs_lost,
        server_errors=0,
        expected="every run `interrupted` after the restart, 0 lost",
        ok=runs_lost == 0 and statuses.get("interrupted", 0) == n,
    )


def load(base: str, key: str, db: Database, pid: int, total: int, concurrency: int) -> Row:
    body = {"model": "fusion/ok", "messages": QUESTION}
    asyncio.run(batch(base, key, [(body, False)] * 4, 4))  # warm the pool's connections
    rss_before = rss_mb(pid)
    started = time.perf_counter()
    outcomes = asyncio.run(batch(base, key, [(body, False)] * total, concurrency))
    wall = time.perf_counter() - started
    rss_after = rss_mb(pid)
    statuses = Counter(str(o.status) for o in outcomes)
    latencies = sorted(o.latency_ms for o in outcomes if o.status == 200)
    runs_lost = lost(db, outcomes)
    server_errors = sum(1 for o in outcomes if o.status >= 500 or o.status == 0)

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    detail = {
        "throughput_rps": round(total / wall, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(pct(0.95), 1),
        "p99_ms": round(pct(0.99), 1),
        "server_rss_mb_before": round(rss_before, 1),
        "server_rss_mb_after": round(rss_after, 1),
    }
    return Row(
        case=f"load: {total} at concurrency {concurrency}",
        sent=f"{total} requests to a healthy pool (members 20/30 ms, judge 10 ms)",
        requests=total,
        statuses=dict(statuses),
        runs_lost=runs_lost,
        server_errors=server_errors,
        expected="all 200, 0 lost, 0 5xx",
        ok=statuses.get("200", 0) == total and runs_lost == 0,
        detail=detail,
    )


def log_check(folder: Path) -> Row:
    """Prompts must not reach the server's log at its default level, failures included."""
    log = (folder / "server.log").read_text(encoding="utf-8", errors="replace")
    leaked = sum(log.count(text) for text in (QUESTION[0]["content"], "a\x00b", "[2J"))
    return Row(
        case="logs",
        sent="every request above (prompts, failures, hostile input)",
        requests=0,
        statuses={"log lines": len(log.splitlines()), "prompt occurrences": leaked},
        runs_lost=0,
        server_errors=0,
        expected="no prompt text in the server log",
        ok=leaked == 0,
    )


def markdown(rows: list[Row], facts: dict[str, Any]) -> str:
    lines = [
        "| case | what was sent | what came back | runs lost | 5xx | as expected |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        back = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))
        if r.detail:
            extra = ", ".join(
                f"{k} {v}" for k, v in r.detail.items() if k != "runs_stored_by_all_hostile_cases"
            )
            back += f" ({extra})" if extra else ""
        lines.append(
            f"| {r.case} | {r.sent} | {back} | {r.runs_lost} | {r.server_errors} | "
            f"{'yes' if r.ok else '**no** (' + r.expected + ')'} |"
        )
    lines.append("")
    lines.append(
        f"{facts['nproc']} cores ({facts['cpu']}), Python {facts['python']}; load average "
        f"before {facts['loadavg_before']}, after {facts['loadavg_after']}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-fault", type=int, default=20, help="requests per fault kind")
    parser.add_argument("--load", type=int, default=2000, help="requests in the load test")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--crash-runs", type=int, default=8)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--parts",
        default="faults,hostile,load,crash",
        help="comma-separated subset of faults,hostile,load,crash",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    facts = {**machine_facts(), "loadavg_before": Path("/proc/loadavg").read_text().split()[:3]}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, upstream_process(script(), env=env()) as url:
        folder = Path(tmp)
        config = write_config(folder, url)
        key = make_key(config)
        db = Database(folder)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with server(config, port) as proc:
            warm_up(base, key)
            if "faults" in parts:
                err.print("faults…")
                rows += faults(base, key, db, args.per_fault)
            if "hostile" in parts:
                err.print("hostile input…")
                rows += hostile(base, key, db)
            if "load" in parts:
                err.print(f"load: {args.load} requests at concurrency {args.concurrency}…")
                rows.append(load(base, key, db, proc.pid, args.load, args.concurrency))
        if "crash" in parts:
            err.print("crash…")
            rows.append(crash(config, db, key, args.crash_runs))
        rows.append(log_check(folder))
    facts["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    report = {"facts": facts, "rows": [asdict(r) for r in rows]}
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    sys.stdout.write(markdown(rows, facts) + "\n")
    if not all(r.ok for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()

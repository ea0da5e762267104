"""Requests per second and server CPU per request of one `evofuse serve` at concurrency 64.

The endpoint benchmark's request (`model: "fusion/p"`: two members and a merge judge, every call
answering after 500 ms at a scripted upstream in its own process), one server with one worker on
SQLite: 256 warm-up requests, then `--requests` timed ones. Small and self-contained so that two
commits can be compared side by side, in turns: run it from this checkout for the current code,
and with `PYTHONPATH` pointing at another checkout's `platform/` for that code (the server is
started through this venv's `evofuse`, which then imports the other code):

    .venv/bin/python benchmarks/serve_cpu.py --label new
    PYTHONPATH=/path/to/old/platform .venv/bin/python benchmarks/serve_cpu.py --label old

One Markdown table row to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from endpoint import http_side, load, make_key, process_cpu_s, server, upstream, write_config


async def measure(
    url: str, key: str, pid: int, requests: int, slice_size: int
) -> tuple[float, float]:
    """(requests/s, server CPU ms per request) over the timed requests."""
    # Idle connections expire before uvicorn's 5 s keep-alive (see endpoint.py).
    limits = httpx.Limits(max_connections=72, max_keepalive_connections=100, keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        call = http_side(client, url, key)
        await load(call, 64, 256)  # connections, caches, the first calls of every path
        started, cpu_started = time.monotonic(), process_cpu_s(pid)
        done = 0
        while done < requests:
            await load(call, 64, min(slice_size, requests - done))
            done += min(slice_size, requests - done)
            print(f"{done}/{requests} requests", file=sys.stderr)
        wall = time.monotonic() - started
        cpu = process_cpu_s(pid) - cpu_started
    return requests / wall, cpu / requests * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="this checkout", help="the row's name")
    parser.add_argument("--requests", type=int, default=1024, help="timed requests")
    parser.add_argument("--port", type=int, default=8733)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, upstream(500, 64) as upstream_url:
        config = write_config(Path(folder), upstream_url)
        key = make_key(config)
        with server(config, args.port, models_ready=True) as (url, pid):
            rate, cpu_ms = asyncio.run(measure(url, key, pid, args.requests, 256))
    print(
        f"| {args.label} | {rate:.1f} | {cpu_ms:.1f} ms | "
        f"{os.getloadavg()[0]:.2f} |"  # the 1-minute load average at the end
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU and wall time of the run recorder's three transactions (start, one step, finish).

The runtime writes every run as it happens: a row when it starts, each step with its candidates
and verdict as it ends, the final status. This measures `SqlRunRecorder` alone, called
back to back from one thread (no event loop, no model calls), on a SQLite file and on a fresh
PostgreSQL database: what each transaction costs in CPU (`time.thread_time`) and in wall time
(the commit's wait for the disk or the server included). The step is a real merge result (two
members of 400 and 300 characters, a judge's verdict) made once by `FusionEngine` against
scripted models in-process.

    .venv/bin/python benchmarks/recorder_cpu.py                    # ~20 s
    .venv/bin/python benchmarks/recorder_cpu.py --runs 1000 --backends sqlite

Run it on two commits to compare recorder implementations; markdown to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench_common import fresh_postgres, machine_facts
from evofuse.config.loader import settings_from_mapping
from evofuse.fusion import FusionEngine, FusionResult
from evofuse.ports import RunInfo
from evofuse.store.db import Store
from evofuse.store.recorder import SqlRunRecorder
from evofuse.testing import JUDGE, ModelBehavior, ScriptedGateway, UpstreamScript

PG_HINT = "Set EVOFUSE_TEST_PG_URL, or pass --backends sqlite."
PG_ADMIN_URL = os.environ.get(
    "EVOFUSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CALLS = ("start", "step", "finish")
TASK = "Summarize the quarterly report for the board in five bullet points, run {i}"


def merge_result() -> FusionResult:
    names = ("m1", "m2", "j")
    settings = settings_from_mapping(
        {
            "model_list": [
                {"model_name": n, "litellm_params": {"model": f"openai/{n}"}} for n in names
            ],
            "fusion": {
                "default_profile": "p",
                "profiles": {"p": {"models": ["m1", "m2"], "judge": "j", "mode": "merge"}},
            },
        }
    )
    script = UpstreamScript(
        models={
            "m1": ModelBehavior(content="Revenue grew; costs held flat. " * 13),
            "m2": ModelBehavior(content="The outlook is stable for now. " * 10),
            "j": JUDGE,
        }
    )
    engine = FusionEngine(settings, gateway=ScriptedGateway(script))
    return asyncio.run(engine.run([{"role": "user", "content": "Summarize the report."}]))


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/evofuse.db"
    else:
        with fresh_postgres(PG_ADMIN_URL, PG_HINT) as url:
            yield url


def measure(database_url: str, result: FusionResult, runs: int, warmup: int) -> dict[str, Any]:
    store = Store(database_url)
    recorder = SqlRunRecorder(store)
    wall: dict[str, list[float]] = {c: [] for c in CALLS}
    cpu: dict[str, float] = dict.fromkeys(CALLS, 0.0)

    def timed(measured: bool, call: str, fn: Callable[..., None], *args: Any) -> None:
        c0, w0 = time.thread_time(), time.perf_counter()
        fn(*args)
        if measured:
            wall[call].append((time.perf_counter() - w0) * 1000)
            cpu[call] += (time.thread_time() - c0) * 1000

    try:
        for i in range(warmup + runs):
            measured = i >= warmup
            run_id = uuid.uuid4().hex
            info = RunInfo("assistant", "acme", "u" * 24, run_id, TASK.format(i=i), None)
            timed(measured, "start", recorder.start, run_id, info)
            recorder.skill_chosen(run_id, None)
            timed(measured, "step", recorder.step_finished, run_id, 0, "answer", result)
            timed(measured, "finish", recorder.finish, run_id, "succeeded", None)
    finally:
        store.close()
    return {
        call: {"wall_p50_ms": statistics.median(wall[call]), "cpu_ms": cpu[call] / runs}
        for call in CALLS
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    result = merge_result()
    table: dict[str, Any] = {}
    for backend in args.backends.split(","):
        print(f"{backend}: {args.runs} runs…", file=sys.stderr)
        with database(backend) as url:
            table[backend] = measure(url, result, args.runs, args.warmup)
    facts = machine_facts()
    load = os.getloadavg()[0]
    header = " | ".join(f"{c}: CPU / wall p50" for c in CALLS)
    print(f"| database | {header} | run: CPU / wall |")
    print("|---|" + "---:|" * (len(CALLS) + 1))
    for backend, calls in table.items():
        cells = [f"{calls[c]['cpu_ms']:.2f} / {calls[c]['wall_p50_ms']:.2f}" for c in CALLS]
        total_cpu = sum(calls[c]["cpu_ms"] for c in CALLS)
        total_wall = sum(calls[c]["wall_p50_ms"] for c in CALLS)
        print(f"| {backend} | " + " | ".join(cells) + f" | {total_cpu:.2f} / {total_wall:.2f} |")
    print(
        f"\nms per run; {args.runs} runs after {args.warmup} warm-up runs, one thread. "
        f"Machine: nproc={facts['nproc']} ({facts['cpu']}), Python {facts['python']}; "
        f"1-min load average {load:.2f} at the end."
    )
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as out:
            json.dump({"runs": args.runs, "results": table, "machine": facts}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Do API replicas add throughput, and does an evolution cycle stay bounded as skills grow?

**Part A: requests/s and latency for 1 and 2 `evofuse serve` replicas.** The scaled-out
topology as processes: a fresh PostgreSQL database on 127.0.0.1:5432 (created for the run and
dropped at the end), a `chroma run` server, a scripted upstream in its own process (members and
judge answer after `--latency-ms`), and two `evofuse serve` replicas on their own ports sharing
both. No reverse proxy here, so the load generator round-robins over the replicas itself: with
N=1 every request goes to replica A (B runs idle), with N=2 they alternate. A closed loop of
`--concurrency` clients sends `fusion/p` chat requests (two members and a judge, so at least
2 x latency each) for `--warmup` seconds, not counted, then `--seconds` that count. Slices run
in ABBA order over `--reps` pairs (N=1 then 2, then 2 then 1, ...) so drift on a shared machine
favours neither. Reported per N: requests/s (completions in the window; 95 % interval from a
bootstrap over 1-second bins), p50 and p95 (bootstrap intervals), errors; and req/s(2) /
req/s(1) with its interval. Client, upstream, PostgreSQL, Chroma and both replicas share the
machine's cores, so on 2 cores the ratio says how much of the machine one replica leaves idle,
not how replicas scale across machines.

**Part B: one evolution cycle as the number of skills grows** (`--skills 10 100 1000`). Per
size, a fresh store (SQLite and an embedded Chroma folder, in this process) with that many
distinct skills; each has poorly scored, commented runs from 3 tenants (so it has the support
the Evolver needs) and held-out runs. The Evolver (a two-member pool and a judge, scripted in
their own process, answering after `--cycle-latency-ms`) answers every prompt with
`{"action": "skip"}`: each skill costs its prompt building and one fused call (two member
calls, then the judge: 2 x latency), and nothing is published, so every cycle over the same
store does the same work. One full cycle runs per `--cycle-concurrency` value
(`evolution.concurrency`, default 4 and 16). Reported: wall time, the proposing phase (from the
first Evolver job to the last), time per skill, its floor ceil(skills / concurrency) x 2 x
latency, that phase's CPU time in this process, the model calls the upstream received and the
most Evolver calls it saw in flight at once. Bounded concurrency shows as a proposing phase near
the floor, not skills x 2 x latency, unless the CPU bounds it first: then the phase's CPU time
nears its wall time (each skill's LiteLLM calls, fusion, prompt and scrubbing cost CPU).

    .venv/bin/python benchmarks/replicas.py                      # both parts, ~12 minutes
    .venv/bin/python benchmarks/replicas.py --parts b --skills 10 100 --json-out r.json
    .venv/bin/python benchmarks/replicas.py --seconds 5 --reps 1 --concurrency 4 --skills 10

Duration at the defaults, estimated from smoke runs on a busy 2-core machine (load average 5):
Part A ~1.5 min to start PostgreSQL's database, Chroma and two replicas, plus reps x 2 x
(warmup + seconds) = 2 min 20 s; Part B ~1.3 min for 10 and 100 skills, and ~7 min for 1,000
(publishing ~0.1 s per skill, then two cycles of ~165 ms per skill: 300 skills took 30 s and
50 s). About 12 minutes in all; less on a quiet machine.

The Markdown tables go to stdout, progress to stderr; PostgreSQL is reached at
EVOFUSE_BENCH_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench_common import (
    BIN,
    Load,
    env,
    estimate,
    fresh_postgres,
    interval,
    load_average,
    machine_facts,
    make_key,
    server,
    wait_until_up,
)
from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, model_entry, upstream_process

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "EVOFUSE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PRICE: dict[str, Any] = {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7}
ANSWER = "The answer is four, because two plus two is four."
SKIP = json.dumps({"action": "skip", "rationale": "benchmark: nothing to change", "evidence": []})
TENANTS = 3
TOPICS = ["invoices", "sensor logs", "lease contracts", "release notes", "lab results"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- Part A: replicas ---------------------------------------------------------------------------


def postgres_database() -> AbstractContextManager[str]:
    """A uniquely named database on the PostgreSQL server; dropped when the block ends."""
    return fresh_postgres(
        PG_ADMIN_URL, "Start it, set EVOFUSE_BENCH_PG_URL, or run --parts b only."
    )


@contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    """`chroma run` on a free port until the block ends; yields its URL once it answers."""
    port = free_port()
    log_path = folder / "chroma.log"
    cmd = [str(BIN / "chroma"), "run", "--path", str(folder / "chroma")]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env(),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, url + "/api/v2/heartbeat", log_path)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def replicas_config(folder: Path, upstream: str, database: str, chroma: str) -> Path:
    config = {
        "model_list": [model_entry(n, upstream, **PRICE) for n in ("m1", "m2", "j")],
        "fusion": {
            "default_profile": "p",
            "profiles": {"p": {"models": ["m1", "m2"], "judge": "j", "mode": "merge"}},
        },
        "storage": {"database_url": database, "chroma": chroma},
        # The seed skills: each chat request runs the Skill Selector against the Chroma server.
        "skills": {"dir": str(REPO / "skills")},
        "graphs": str(REPO / "langgraph.json"),
        "auth": {"enabled": True},
    }
    path = folder / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def completions_per_second(load: Load, start: float, seconds: int) -> list[float]:
    """Requests answered 200 in each 1-second bin of [start, start + seconds)."""
    bins = [0.0] * seconds
    for _, end in load.samples:
        slot = math.floor(end - start)
        if 0 <= slot < seconds:
            bins[slot] += 1
    return bins


def mean_interval(values: list[float], rng: random.Random, n: int = 2000) -> list[float]:
    means = [statistics.fmean(rng.choices(values, k=len(values))) for _ in range(n)]
    low, high = interval(means)
    return [round(statistics.fmean(values), 2), round(low, 2), round(high, 2)]


async def measure_replicas(args: argparse.Namespace, urls: list[str], key: str) -> dict[str, Any]:
    order: list[int] = []
    for rep in range(args.reps):
        order += [1, 2] if rep % 2 == 0 else [2, 1]
    bins: dict[int, list[float]] = {1: [], 2: []}
    latencies: dict[int, list[float]] = {1: [], 2: []}
    errors = {1: 0, 2: 0}
    limits = httpx.Limits(max_connections=args.concurrency + 4)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        for i, n in enumerate(order):
            load = Load(client, key, args.concurrency, urls[:n])
            start, end = await load.run_while(lambda: asyncio.sleep(args.warmup + args.seconds))
            counted = start + args.warmup
            latencies[n] += load.within(counted, end)
            bins[n] += completions_per_second(load, counted, args.seconds)
            errors[n] += load.errors
            log(
                f"slice {i + 1}/{len(order)}: {n} replica(s), "
                f"{sum(completions_per_second(load, counted, args.seconds)) / args.seconds:.1f}"
                f" req/s, {load.errors} errors"
            )
    rng = random.Random(7)
    out: dict[str, Any] = {"order": order}
    for n in (1, 2):
        out[str(n)] = {
            "requests": len(latencies[n]),
            "rps": mean_interval(bins[n], rng),
            "p50": estimate(latencies[n], 50, rng),
            "p95": estimate(latencies[n], 95, rng),
            "errors": errors[n],
        }
    ratios = [
        statistics.fmean(rng.choices(bins[2], k=len(bins[2])))
        / max(1e-9, statistics.fmean(rng.choices(bins[1], k=len(bins[1]))))
        for _ in range(2000)
    ]
    low, high = interval(ratios)
    point = statistics.fmean(bins[2]) / max(1e-9, statistics.fmean(bins[1]))
    out["ratio"] = [round(point, 3), round(low, 3), round(high, 3)]
    return out


def part_a(args: argparse.Namespace) -> dict[str, Any]:
    chat = ModelBehavior(latency_ms=args.latency_ms, content=ANSWER)
    script = UpstreamScript(
        models={
            "m1": chat,
            "m2": chat,
            "j": JUDGE.model_copy(update={"latency_ms": args.latency_ms}),
        }
    )
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database = stack.enter_context(postgres_database())
        chroma = stack.enter_context(chroma_server(folder))
        upstream = stack.enter_context(upstream_process(script, env=env()))
        config = replicas_config(folder, upstream, database, chroma)
        urls = []
        # One after the other: the first imports the seed skills, the second finds them there.
        for name in ("A", "B"):
            log(f"starting replica {name}…")
            urls.append(stack.enter_context(server(config, free_port())))
        key = make_key(config)
        log(f"measuring {2 * args.reps} slices of {args.warmup + args.seconds:g} s…")
        return asyncio.run(measure_replicas(args, urls, key))


def markdown_a(args: argparse.Namespace, result: dict[str, Any], facts: dict[str, Any]) -> str:
    def cell(v: list[float], unit: str = " ms", digits: int = 0) -> str:
        return f"{v[0]:.{digits}f}{unit} ({v[1]:.{digits}f} to {v[2]:.{digits}f})"

    rows = [
        "| API replicas | timed requests | req/s | p50 | p95 | errors |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n in (1, 2):
        r = result[str(n)]
        rows.append(
            f"| {n} | {r['requests']} | {cell(r['rps'], '', 1)} | {cell(r['p50'])} | "
            f"{cell(r['p95'])} | {r['errors']} |"
        )
    ratio = result["ratio"]
    floor_ms = 2 * args.latency_ms
    rows += [
        "",
        f"req/s with 2 replicas / with 1: **{ratio[0]:.2f}** (95 % CI {ratio[1]:.2f} to "
        f"{ratio[2]:.2f}). {args.concurrency} closed-loop clients send `fusion/p` (two members, "
        f"then the judge, {args.latency_ms:g} ms each at a scripted upstream: a {floor_ms:g} ms "
        f"floor, so at most {args.concurrency / floor_ms * 1000:.0f} req/s if EvoFuse cost "
        f"nothing); {args.reps} x 2 slices in ABBA order ({' '.join(map(str, result['order']))}"
        f"), each {args.warmup:g} s warm-up + {args.seconds} s counted. No reverse proxy: the "
        "client round-robins over the replicas (N=1: all to replica A, B idle). PostgreSQL "
        "database, `chroma run` server, upstream process, both replicas and the client all "
        f"share {facts['nproc']} cores ({facts['cpu']}); 1-min load average "
        f"{facts['load_before']} before, {facts['load_after']} after. Intervals: bootstrap "
        "(req/s over 1-second bins).",
    ]
    return "\n".join(rows)


# --- Part B: cycle time against the number of skills --------------------------------------------


def write_skills(folder: Path, n: int) -> None:
    """`n` valid, distinct skills: one folder with a SKILL.md each."""
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        name = f"bench-skill-{i:04d}"
        text = (
            f"---\nname: {name}\ndescription: >-\n  Summarise {topic} of kind {i} into a table "
            f"of key figures and open questions. NOT for: {topic} of any other kind.\n---\n"
            f"# {topic.capitalize()}, kind {i}\n\n## Steps\n\n- Read every {topic[:-1]} of kind "
            f"{i} in full.\n- List the key figures with their units.\n\n## Output format\n\n"
            "A table, then the open questions.\n"
        )
        (folder / name).mkdir(parents=True)
        (folder / name / "SKILL.md").write_text(text, encoding="utf-8")


def run_id(held_out: bool, percent: float) -> str:
    from evofuse.evolution.evidence import is_held_out

    while True:
        candidate = uuid.uuid4().hex
        if is_held_out(candidate, percent) == held_out:
            return candidate


def record_evidence(services: Any, runs_per_tenant: int, held_out: int) -> int:
    """Per skill: `runs_per_tenant` poor, commented runs from each of 3 tenants, and `held_out`
    held-out runs; returns the number of runs recorded."""
    from sqlalchemy import insert

    from evofuse.store import OutcomeRow, utcnow
    from evofuse.store.feedback import FeedbackRow
    from evofuse.store.runs import RunRow, StepRow

    library, percent = services.library, services.settings.evolution.holdout_percent
    now = utcnow()
    runs, steps, outcomes, feedback = [], [], [], []
    for skill in library.list_skills():
        version = library.load(skill.name).info
        plan = [(t, False) for t in range(TENANTS) for _ in range(runs_per_tenant)]
        plan += [(k % TENANTS, True) for k in range(held_out)]
        for k, (t, is_held) in enumerate(plan):
            rid, tenant, user = run_id(is_held, percent), f"tenant-{t}", f"user-{t}-{k}"
            base = {"run_id": rid, "created_at": now}
            runs.append(
                {
                    "id": rid,
                    "graph": "assistant",
                    "tenant": tenant,
                    "user_hash": user,
                    "skill_name": skill.name,
                    "skill_version": version.version,
                    "skill_version_id": version.id,
                    "task": f"Summarise the attached {skill.name} document number {k}",
                    "status": "succeeded",
                    "answer": "A table of figures.",
                    "owner": "bench",
                    "created_at": now,
                    "finished_at": now,
                }
            )
            # Core inserts skip the models' default factories: the JSON lists are given here.
            step = {"index": 0, "name": "answer", "status": "succeeded", "degraded": False}
            steps.append({**base, **step, "degraded_reasons": [], "prompt_versions": []})
            person = {"tenant": tenant, "user_hash": user, "score": 0.2}
            outcomes.append(
                {
                    **base,
                    **person,
                    "skill_version_id": version.id,
                    "skill_name": skill.name,
                    "version": version.version,
                    "source": "judge",
                }
            )
            comment = f"The {skill.name} table left out the units of run {k}."
            feedback.append({**base, **person, "comment": comment})
    with services.store.session() as session:
        connection = session.connection()
        for table, rows in ((RunRow, runs), (StepRow, steps), (OutcomeRow, outcomes)):
            for start in range(0, len(rows), 5000):
                connection.execute(insert(table), rows[start : start + 5000])
        for start in range(0, len(feedback), 5000):
            connection.execute(insert(FeedbackRow), feedback[start : start + 5000])
    return len(runs)


def peak_in_flight(requests: list[dict[str, Any]], model: str) -> int:
    """The most requests to `model` the upstream was answering at the same time."""
    events = sorted(
        [(r["started"], 1) for r in requests if r["model"] == model]
        + [(r["ended"] or math.inf, -1) for r in requests if r["model"] == model],
        key=lambda e: (e[0], e[1]),
    )
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def one_size(
    args: argparse.Namespace, upstream: str, n: int, seen: list[int]
) -> list[dict[str, Any]]:
    from evofuse.config.loader import settings_from_mapping
    from evofuse.evolution.cycle import EvolutionCycle
    from evofuse.evolution.pii import default_scrubber
    from evofuse.services import Services

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_skills(folder / "skills", n)
        settings = settings_from_mapping(
            {
                "model_list": [model_entry(m, upstream, **PRICE) for m in ("e1", "e2", "ej")],
                "fusion": {
                    "default_profile": "evo",
                    "profiles": {"evo": {"models": ["e1", "e2"], "judge": "ej", "mode": "merge"}},
                },
                "storage": {
                    "database_url": f"sqlite:///{folder}/evofuse.db",
                    "chroma": str(folder / "chroma"),
                },
                "skills": {"dir": str(folder / "skills")},
                "evolution": {"profile": "evo", "max_cost_usd": 1000.0},
            }
        )
        services = Services.from_settings(settings)
        started = time.perf_counter()
        published = len(services.library.list_skills())
        publish_s = time.perf_counter() - started
        started = time.perf_counter()
        recorded = record_evidence(services, args.runs_per_tenant, args.held_out)
        record_s = time.perf_counter() - started
        log(f"{n} skills: published in {publish_s:.1f} s, {recorded} runs in {record_s:.1f} s")
        services.library.index.embed(["warm up the embedding model"])
        services.engine.gateway.warm_up()
        default_scrubber().scrub("warm up the scrubber")
        for concurrency in args.cycle_concurrency:
            evolution = settings.evolution.model_copy(update={"concurrency": concurrency})
            marks: dict[str, tuple[float, float]] = {}  # stage -> (wall, this process's CPU)

            def progress(
                what: str, _done: int, _total: int, marks: dict[str, tuple[float, float]] = marks
            ) -> None:
                marks.setdefault(what, (time.perf_counter(), time.process_time()))

            cycle = EvolutionCycle(
                settings.model_copy(update={"evolution": evolution}),
                store=services.store,
                library=services.library,
                engine=services.engine,
                progress=progress,
            )
            started, cpu = time.perf_counter(), time.process_time()
            report = asyncio.run(cycle.execute())
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            requests = httpx.get(upstream.removesuffix("/v1") + "/_upstream/requests").json()
            new = requests[seen[0] :]
            seen[0] = len(requests)
            first, last = marks["proposing, gating and publishing"], marks["done"]
            proposing, proposing_cpu = last[0] - first[0], last[1] - first[1]
            floor = math.ceil(n / concurrency) * 2 * args.cycle_latency_ms / 1000
            rows.append(
                {
                    "skills": published,
                    "concurrency": concurrency,
                    "status": report.status,
                    "cycle_s": round(wall, 2),
                    "cpu_s": round(cpu, 2),
                    "before_proposing_s": round(first[0] - started, 2),
                    "proposing_s": round(proposing, 2),
                    "proposing_cpu_s": round(proposing_cpu, 2),
                    "proposing_floor_s": round(floor, 2),
                    "serial_floor_s": round(n * 2 * args.cycle_latency_ms / 1000, 2),
                    "per_skill_ms": round(wall / published * 1000, 1),
                    "proposals": dict(Counter(p.status for p in report.proposals)),
                    "model_calls": dict(Counter(r["model"] for r in new)),
                    "peak_evolver_calls_in_flight": peak_in_flight(new, "e1"),
                }
            )
            log(json.dumps(rows[-1]))
            if report.status != "finished" or len(report.proposals) != published:
                raise SystemExit(f"the cycle over {n} skills did not evolve each: {rows[-1]}")
        services.close()
    return rows


def part_b(args: argparse.Namespace) -> list[dict[str, Any]]:
    evolver = ModelBehavior(latency_ms=args.cycle_latency_ms, content=SKIP)
    script = UpstreamScript(
        models={
            "e1": evolver,
            "e2": evolver,
            "ej": JUDGE.model_copy(update={"latency_ms": args.cycle_latency_ms}),
        },
        default=None,
    )
    rows: list[dict[str, Any]] = []
    seen = [0]  # upstream requests already counted
    with upstream_process(script, env=env()) as upstream:
        for n in args.skills:
            rows += one_size(args, upstream, n, seen)
    return rows


def markdown_b(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    lines = [
        "| skills | concurrency | cycle (s) | before proposing (s) | proposing (s) | "
        "its floor (s) | one at a time (s) | proposing CPU (s) | per skill (ms) | model calls | "
        "peak in flight |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['skills']:,} | {r['concurrency']} | {r['cycle_s']:.1f} | "
            f"{r['before_proposing_s']:.1f} | {r['proposing_s']:.1f} | "
            f"{r['proposing_floor_s']:.1f} | {r['serial_floor_s']:.0f} | "
            f"{r['proposing_cpu_s']:.1f} | {r['per_skill_ms']:.0f} | "
            f"{sum(r['model_calls'].values()):,} | "
            f"{r['peak_evolver_calls_in_flight']} |"
        )
    lines += [
        "",
        f"SQLite and an embedded Chroma folder; every skill has {args.runs_per_tenant} poor, "
        f"commented runs from each of {TENANTS} tenants and {args.held_out} held-out runs. The "
        f"scripted Evolver pool answers `skip` after {args.cycle_latency_ms:g} ms per call (two "
        'members, then the judge). "before proposing": canaries, evidence (scrubbed), '
        'clustering; "proposing": the Evolver jobs, `evolution.concurrency` at a time; its '
        'floor is ceil(skills / concurrency) x 2 x latency, "one at a time" skills x 2 x '
        'latency; "proposing CPU": this process\'s CPU time in that phase (LiteLLM and fusion per '
        "call, prompts, scrubbing): when it nears the proposing time, the phase is bound by the "
        "CPU, not by the models' latency. Peak in flight: the most Evolver member calls the "
        "upstream answered at once. Per skill: cycle / skills.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="ab", help="a (replicas), b (cycle size) or ab")
    parser.add_argument("--concurrency", type=int, default=32, help="Part A: chat clients")
    parser.add_argument("--seconds", type=int, default=30, help="Part A: counted per slice")
    parser.add_argument("--warmup", type=float, default=5.0, help="Part A: uncounted per slice")
    parser.add_argument("--reps", type=int, default=2, help="Part A: pairs of slices (ABBA)")
    parser.add_argument("--latency-ms", type=float, default=200.0, help="Part A: per model call")
    parser.add_argument("--skills", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--cycle-concurrency", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--cycle-latency-ms", type=float, default=100.0)
    parser.add_argument("--runs-per-tenant", type=int, default=1, help="Part B: per skill")
    parser.add_argument("--held-out", type=int, default=1, help="Part B: held-out runs per skill")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if not set(args.parts) <= {"a", "b"} or not args.parts:
        parser.error("--parts takes a, b or ab")
    if min(args.seconds, args.concurrency, args.reps, *args.skills, *args.cycle_concurrency) < 1:
        parser.error(
            "--seconds, --concurrency, --reps, --skills and --cycle-concurrency must be ≥ 1"
        )
    facts = {**machine_facts(), "evofuse": metadata.version("evofuse")}
    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "facts": facts}
    began = time.monotonic()
    if "a" in args.parts:
        facts["load_before"] = load_average()
        result["replicas"] = part_a(args)
        facts["load_after"] = load_average()
        print(markdown_a(args, result["replicas"], facts))
    if "b" in args.parts:
        facts["cycle_load_before"] = load_average()
        result["cycles"] = part_b(args)
        facts["cycle_load_after"] = load_average()
        print(("\n" if "a" in args.parts else "") + markdown_b(args, result["cycles"]))
        print(
            f"\n1-min load average {facts['cycle_load_before']} before, "
            f"{facts['cycle_load_after']} after; {facts['nproc']} cores, Python "
            f"{facts['python']}, EvoFuse {facts['evofuse']}."
        )
    result["total_s"] = round(time.monotonic() - began, 1)
    log(f"total {result['total_s']:.0f} s")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How much does the runtime (selector + graph nodes + run records + checkpoints) add per run?

One one-step request, run over and over against a scripted OpenAI-compatible upstream in its
own process (members answer after 50/100/150 ms, the judge after 50 ms, answers streamed 4
characters per chunk), on SQLite and on a fresh PostgreSQL database. Per round, in rotating
order, five sides run the same fusion:

    engine.run        FusionEngine.run(): the fusion alone, the judge not streamed
    engine.events     FusionEngine.events(): the call the runtime's nodes make (judge streamed)
    Runner, bare      Runner.run("assistant", ...) with no selector, recorder or checkpointer
    Runner, no ckpt   the deployed Runner without its checkpointer
    Runner            Runner.run("assistant", ...) as deployed: the LibrarySkillChooser over the
                      seed library (MiniLM + Chroma + SQL), the SqlRunRecorder and the
                      checkpointer, on the backend's database

Runner - engine.run is the runtime's per-run overhead (target: median <= 15 ms). The selector's
and the recorder's calls (awaited by the nodes, in a worker thread or not) are timed by thin
wrappers; the checkpointer's cost is Runner - Runner, no ckpt (LangGraph writes checkpoints
concurrently with the next step, so timing its calls would count waiting, not cost).
Each round's task text is new (so the selector embeds it, as for a real request) and routes to
the seed skill `summarize-document` (one step, merge), whose instructions engine.run and
engine.events get too.

    .venv/bin/python benchmarks/runtime_overhead.py --runs 30 --json-out runtime.json

PostgreSQL: a throwaway database is created through EVOFUSE_TEST_PG_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres) and dropped afterwards; `--backends
sqlite` skips it. Markdown to stdout, progress to stderr; --check exits 1 if a median overhead
is above the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench_common import fresh_postgres, machine_facts
from evofuse.config import Settings
from evofuse.config.loader import settings_from_mapping
from evofuse.fusion import FusionEngine
from evofuse.identity import UserHasher
from evofuse.options import FusionOptions
from evofuse.ports import RunInfo, RunRecorder, SkillChoice, SkillChooser
from evofuse.runtime.runner import Runner
from evofuse.services import Services
from evofuse.testing import ModelBehavior, UpstreamScript, model_entry, upstream_process

if TYPE_CHECKING:
    from evofuse.fusion import FusionResult

REPO = Path(__file__).resolve().parents[1]
TARGET_MS = 15.0
MEMBERS = {"m50": 50, "m100": 100, "m150": 150}
JUDGE = ("judge", 50)
SKILL = "summarize-document"
MODE = "merge"  # summarize-document's evofuse-mode
OPTIONS = FusionOptions(mode=MODE)
TASK = "Summarize this 30-page quarterly report for me (report {i}, {tag})."
USER = "bench-user"
PG_ADMIN_URL = os.environ.get(
    "EVOFUSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SIDES = {
    "run": "engine.run",
    "events": "engine.events",
    "bare": "Runner, bare",
    "nockpt": "Runner, no checkpointer",
    "full": "Runner",
}
PARTS = ("selector", "recording")


def answer_text(chars: int) -> str:
    sentence = "Revenue grew 12% while costs held flat; the outlook for next quarter is stable. "
    return (sentence * (chars // len(sentence) + 1))[:chars].strip()


def upstream_script(chars: int, chunk_chars: int) -> UpstreamScript:
    models = {
        name: ModelBehavior(latency_ms=ms, content=answer_text(chars), chunk_chars=chunk_chars)
        for name, ms in MEMBERS.items()
    }
    models[JUDGE[0]] = ModelBehavior(kind="judge", latency_ms=JUDGE[1], chunk_chars=chunk_chars)
    return UpstreamScript(models=models, default=None)


def upstream(script: UpstreamScript) -> AbstractContextManager[str]:
    """The upstream in its own process: it must not share our GIL."""
    return upstream_process(script)


def fresh_postgres_db() -> AbstractContextManager[str]:
    """A throwaway PostgreSQL database (tests/support/databases.py does the same for pytest)."""
    return fresh_postgres(PG_ADMIN_URL, "Set EVOFUSE_TEST_PG_URL, or pass --backends sqlite.")


@contextmanager
def database(backend: str) -> Iterator[tuple[str, str]]:
    """(database_url, chroma folder) for one backend, removed afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        chroma = str(Path(folder, "chroma"))
        if backend == "sqlite":
            yield f"sqlite:///{folder}/evofuse.db", chroma
        else:
            with fresh_postgres_db() as url:
                yield url, chroma


def settings_for(base_url: str, database_url: str, chroma: str) -> Settings:
    return settings_from_mapping(
        {
            "model_list": [
                model_entry(n, base_url, input_cost_per_token=1.5e-7, output_cost_per_token=6e-7)
                for n in [*MEMBERS, JUDGE[0]]
            ],
            "fusion": {
                "default_profile": "bench",
                "profiles": {
                    "bench": {"models": list(MEMBERS), "mode": MODE, "judge": JUDGE[0]},
                },
            },
            "storage": {"database_url": database_url, "chroma": chroma},
            "skills": {"dir": str(REPO / "skills")},
            "graphs": str(REPO / "langgraph.json"),
        }
    )


# -- timing the runtime's parts --------------------------------------------------------------


class Clock:
    """Milliseconds spent per part during the current run."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def add(self, part: str, started: float) -> None:
        self.spent[part] += (time.perf_counter() - started) * 1000

    def take(self) -> dict[str, float]:
        spent = {part: self.spent.get(part, 0.0) for part in PARTS}
        self.spent.clear()
        return spent


class TimedChooser:
    def __init__(self, inner: SkillChooser, clock: Clock) -> None:
        self.inner = inner
        self.clock = clock

    def choose(
        self, task: str, *, tenant: str | None, user: str | None, skill: str | None
    ) -> SkillChoice | None:
        started = time.perf_counter()
        try:
            return self.inner.choose(task, tenant=tenant, user=user, skill=skill)
        finally:
            self.clock.add("selector", started)


class TimedRecorder:
    def __init__(self, inner: RunRecorder, clock: Clock) -> None:
        self.inner = inner
        self.clock = clock

    def start(self, run_id: str, run: RunInfo) -> None:
        started = time.perf_counter()
        self.inner.start(run_id, run)
        self.clock.add("recording", started)

    def skill_chosen(self, run_id: str, skill: SkillChoice | None) -> None:
        started = time.perf_counter()
        self.inner.skill_chosen(run_id, skill)
        self.clock.add("recording", started)

    def step_finished(self, run_id: str, index: int, name: str, result: FusionResult) -> None:
        started = time.perf_counter()
        self.inner.step_finished(run_id, index, name, result)
        self.clock.add("recording", started)

    def step_failed(self, run_id: str, index: int, name: str, error: BaseException) -> None:
        started = time.perf_counter()
        self.inner.step_failed(run_id, index, name, error)
        self.clock.add("recording", started)

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        started = time.perf_counter()
        self.inner.finish(run_id, status, error)
        self.clock.add("recording", started)


# -- measuring -------------------------------------------------------------------------------


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Backend:
    name: str
    wall_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    parts_ms: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PARTS})
    problems: list[str] = field(default_factory=list)

    def median(self, side: str) -> float:
        return statistics.median(self.wall_ms[side])

    def p95(self, side: str) -> float:
        return nearest_rank(self.wall_ms[side], 0.95)

    def paired(self, side: str, base: str) -> float:
        """Median of the per-round differences (rounds are interleaved, so this is robust)."""
        return statistics.median(
            a - b for a, b in zip(self.wall_ms[side], self.wall_ms[base], strict=True)
        )

    @property
    def overhead(self) -> float:
        return self.median("full") - self.median("run")


async def measure(
    backend: str, base_url: str, args: argparse.Namespace, progress: Progress
) -> Backend:
    out = Backend(backend)
    with database(backend) as (database_url, chroma):
        settings = settings_for(base_url, database_url, chroma)
        services = Services.from_settings(settings)
        try:
            engine: FusionEngine = services.engine
            engine.gateway.warm_up()
            clock = Clock()
            hasher = UserHasher(secret=b"benchmark")  # no key file written in the cwd
            setup = progress.add_task(f"{backend}: seed library + models", total=1)
            chooser = TimedChooser(services.selector, clock)  # imports the seed skills
            instructions = services.library.load(SKILL).spec.body.strip()
            progress.advance(setup)
            full = Runner(
                settings,
                engine=engine,
                selector=chooser,
                recorder=TimedRecorder(services.recorder, clock),
                hasher=hasher,
            )
            nockpt = Runner(
                settings,
                engine=engine,
                selector=chooser,
                recorder=TimedRecorder(services.recorder, clock),
                hasher=hasher,
                checkpoints=False,
            )
            bare = Runner(settings, engine=engine, hasher=hasher, checkpoints=False)
            runners = {"full": full, "nockpt": nockpt, "bare": bare}
            async with full, nockpt, bare:
                await rounds(out, engine, runners, instructions, clock, args, progress)
        finally:
            services.close()
    return out


async def rounds(
    out: Backend,
    engine: FusionEngine,
    runners: dict[str, Runner],
    instructions: str,
    clock: Clock,
    args: argparse.Namespace,
    progress: Progress,
) -> None:
    def check_result(side: str, answer: str, degraded: bool) -> None:
        if not answer or degraded:
            out.problems.append(f"{out.name} {side}: degraded or empty answer")

    async def run_engine(task: str) -> None:
        messages = [{"role": "user", "content": task}]
        result = await engine.run(messages, OPTIONS, instructions=instructions)
        check_result("run", result.content, result.degraded)

    async def run_events(task: str) -> None:
        messages = [{"role": "user", "content": task}]
        async for event in engine.events(messages, OPTIONS, instructions=instructions):
            del event  # a client would forward these; nobody reads them here

    def run_graph(side: str) -> Callable[[str], Awaitable[None]]:
        async def call(task: str) -> None:
            result = await runners[side].run("assistant", task, user=USER)
            check_result(side, result.answer, False)
            routed = (result.skill or {}).get("name")
            if side != "bare" and (routed != SKILL or len(result.steps) != 1):
                out.problems.append(f"{out.name} {side}: routed to {routed}")

        return call

    sides: dict[str, Callable[[str], Awaitable[None]]] = {
        "run": run_engine,
        "events": run_events,
        **{side: run_graph(side) for side in runners},
    }
    order = list(sides)
    job = progress.add_task(f"{out.name}: runs", total=(args.warmup + args.runs) * len(order))
    for i in range(args.warmup + args.runs):
        measured = i >= args.warmup
        shift = i % len(order)  # rotate which side goes first
        for side in order[shift:] + order[:shift]:
            # A new text for every call: two sides sharing one would find it in the index's
            # query cache, and the second would skip the embedding.
            task = TASK.format(i=i, tag=f"{out.name} {side}")
            clock.take()
            started = time.perf_counter()
            await sides[side](task)
            wall = (time.perf_counter() - started) * 1000
            spent = clock.take()
            if measured:
                out.wall_ms[side].append(wall)
                if side == "full":
                    for part in PARTS:
                        out.parts_ms[part].append(spent[part])
            progress.advance(job)


# -- reporting -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        **machine_facts(),
        "platform": platform.platform(),
        "litellm": metadata.version("litellm"),
        "langgraph": metadata.version("langgraph"),
        "chromadb": metadata.version("chromadb"),
    }


def markdown(results: list[Backend], facts: dict[str, Any], args: argparse.Namespace) -> str:
    def f(x: float) -> str:
        return f"{x:.1f}"

    head = "| database | engine.run median / p95 | Runner median / p95 | Runner - engine.run "
    head += f"(medians) | paired median | ≤ {TARGET_MS:.0f} ms |"
    lines = [head, "|---|---:|---:|---:|---:|:---:|"]
    for r in results:
        lines.append(
            f"| {r.name} | {f(r.median('run'))} / {f(r.p95('run'))} "
            f"| {f(r.median('full'))} / {f(r.p95('full'))} | {f(r.overhead)} "
            f"| {f(r.paired('full', 'run'))} | {'yes' if r.overhead <= TARGET_MS else 'no'} |"
        )
    lines += [
        "",
        "Where the time goes (ms; medians of the per-round differences between sides, and the "
        "median time inside the selector's and the recorder's calls):",
        "",
        "| database | judge streamed: events - run | LangGraph + nodes: bare - events "
        "| selector + recording: no ckpt - bare | selector calls | recording calls "
        "| checkpointer: Runner - no ckpt | Runner - engine.events |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        cells = [
            r.paired("events", "run"),
            r.paired("bare", "events"),
            r.paired("nockpt", "bare"),
            *(statistics.median(r.parts_ms[p]) for p in PARTS),
            r.paired("full", "nockpt"),
            r.paired("full", "events"),
        ]
        lines.append(f"| {r.name} | " + " | ".join(f(c) for c in cells) + " |")
    lines += [
        "",
        f"{args.runs} measured runs per side and database after {args.warmup} warm-up rounds "
        "(excluded), sides interleaved in rotating order. Members answer after "
        f"{'/'.join(str(v) for v in MEMBERS.values())} ms and the judge after {JUDGE[1]} ms "
        f"(merge: floor {max(MEMBERS.values()) + JUDGE[1]} ms), {args.answer_chars}-character "
        f"answers streamed {args.chunk_chars} characters per chunk, upstream in its own "
        "process. engine.events is the call the runtime's nodes make (the judge's answer "
        "streamed); Runner, bare = the assistant graph with no selector, recorder or "
        "checkpointer; no ckpt = the deployed Runner without its checkpointer; selector calls = "
        "LibrarySkillChooser.choose (embedding a new task text, Chroma, SQL, loading the "
        "version); recording calls = all SqlRunRecorder calls of a run.",
        "",
        f"Machine: nproc={facts['nproc']} ({facts['cpu']}), Python {facts['python']}, LiteLLM "
        f"{facts['litellm']}, LangGraph {facts['langgraph']}, chromadb {facts['chromadb']}; "
        f"{facts['platform']}; 1-min load average {facts['loadavg_1min'][0]} before, "
        f"{facts['loadavg_1min'][1]} after.",
    ]
    return "\n".join(lines)


def as_json(results: list[Backend], facts: dict[str, Any], args: argparse.Namespace) -> Any:
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": facts,
        "settings": {
            "runs": args.runs,
            "warmup": args.warmup,
            "members_ms": MEMBERS,
            "judge_ms": JUDGE[1],
            "answer_chars": args.answer_chars,
            "chunk_chars": args.chunk_chars,
            "target_ms": TARGET_MS,
        },
        "backends": {
            r.name: {
                "overhead_ms": r.overhead,
                "paired_overhead_ms": r.paired("full", "run"),
                "median_ms": {s: r.median(s) for s in SIDES},
                "p95_ms": {s: r.p95(s) for s in SIDES},
                "parts_median_ms": {p: statistics.median(r.parts_ms[p]) for p in PARTS},
                "wall_ms": r.wall_ms,
                "parts_ms": r.parts_ms,
                "problems": r.problems,
            }
            for r in results
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="measured runs per side")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up rounds, not measured")
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--answer-chars", type=int, default=400, help="each answer's length")
    parser.add_argument("--chunk-chars", type=int, default=4, help="characters per streamed chunk")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a median misses the target")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite, postgres or sqlite,postgres")
    # LiteLLM would otherwise fetch its price map from the internet on import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

    load_before = os.getloadavg()[0]
    stderr = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    results: list[Backend] = []
    with upstream(upstream_script(args.answer_chars, args.chunk_chars)) as base_url:
        with Progress(*columns, TimeElapsedColumn(), console=stderr) as progress:
            for backend in backends:
                results.append(asyncio.run(measure(backend, base_url, args, progress)))
    facts = machine() | {"loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    print(markdown(results, facts, args))
    if args.json_out:
        text = json.dumps(as_json(results, facts, args), indent=2) + "\n"
        args.json_out.write_text(text, encoding="utf-8")
    problems = [p for r in results for p in r.problems]
    for problem in dict.fromkeys(problems):
        stderr.print(f"[red]problem:[/] {problem}", highlight=False)
    if problems:
        return 1
    return 1 if args.check and any(r.overhead > TARGET_MS for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

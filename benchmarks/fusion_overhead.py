"""How much latency does EvoFuse add on top of the models it fuses?

Runs a scripted OpenAI-compatible upstream on 127.0.0.1 (members answer after 100/200/400 ms,
the judge after 100 ms) and measures, per request, wall time minus the physical floor:

    merge, best-of      slowest member + judge        = 400 + 100       = 500 ms
    debate (1 round)    2 x slowest member + judge    = 2 x 400 + 100   = 900 ms
    quorum              2nd member + grace + judge    = 200 + 200 + 100 = 500 ms
                        (members 100/200/3000 ms, quorum 2, grace 0.2 s)

Next to each mode, in the same run and interleaved with it, the same calls made bare:
`litellm.acompletion` calls (each deployment's `litellm_params`, as EvoFuse's gateway makes them
for a one-deployment name) under `asyncio.gather` (members, then the judge; for debate a second
gather of revisions), so the table separates EvoFuse's own overhead from LiteLLM's and the
loopback's.

    .venv/bin/python benchmarks/fusion_overhead.py --requests 30 --json-out bench.json

The Markdown table goes to stdout, progress to stderr. Exits 1 if the quorum case ever waited
for the 3000 ms member (or, with --check, if a median overhead is above the target).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench_common import machine_facts
from evofuse.config import Settings
from evofuse.config.loader import settings_from_mapping
from evofuse.fusion import FusionEngine, FusionResult
from evofuse.options import FusionOptions
from evofuse.testing import (
    ModelBehavior,
    UpstreamScript,
    UpstreamServer,
    model_entry,
    upstream_process,
)

TARGET_MS = 10.0
MEMBERS = {"m100": 100, "m200": 200, "m400": 400}
STRAGGLER = ("m3000", 3000)
JUDGE = ("judge", 100)
GRACE_S = 0.2
QUESTION = [{"role": "user", "content": "Explain in a short paragraph why the sky is blue."}]
# Modes measured against a bare-LiteLLM twin, with their physical floor in ms.
FLOORS = {
    "merge": max(MEMBERS.values()) + JUDGE[1],
    "best-of": max(MEMBERS.values()) + JUDGE[1],
    "debate": 2 * max(MEMBERS.values()) + JUDGE[1],
}
QUORUM_FLOOR = sorted([*MEMBERS.values()])[1] + GRACE_S * 1000 + JUDGE[1]


def answer_text(chars: int) -> str:
    sentence = "Sunlight scatters off air molecules, and shorter blue wavelengths scatter most. "
    return (sentence * (chars // len(sentence) + 1))[:chars].strip()


def upstream_script(chars: int, chunk_chars: int) -> UpstreamScript:
    def member(ms: int) -> ModelBehavior:
        return ModelBehavior(latency_ms=ms, content=answer_text(chars), chunk_chars=chunk_chars)

    models = {name: member(ms) for name, ms in [*MEMBERS.items(), STRAGGLER]}
    models[JUDGE[0]] = ModelBehavior(kind="judge", latency_ms=JUDGE[1], chunk_chars=chunk_chars)
    return UpstreamScript(models=models, default=None)


@contextmanager
def upstream(script: UpstreamScript, mode: str) -> Iterator[str]:
    """The upstream in its own process (default: it must not share our GIL) or a thread."""
    if mode == "thread":
        with UpstreamServer(script) as server:
            yield server.base_url
        return
    with upstream_process(script) as url:
        yield url


def settings_for(base_url: str) -> Settings:
    names = [*MEMBERS, STRAGGLER[0], JUDGE[0]]
    pool = list(MEMBERS)
    common = {"judge": JUDGE[0], "timeout_s": 30}
    return settings_from_mapping(
        {
            "model_list": [
                model_entry(n, base_url, input_cost_per_token=1.5e-7, output_cost_per_token=6e-7)
                for n in names
            ],
            "fusion": {
                "default_profile": "merge",
                "profiles": {
                    "merge": {"models": pool, "mode": "merge", **common},
                    "best-of": {"models": pool, "mode": "best-of", **common},
                    "debate": {"models": pool, "mode": "debate", "debate_rounds": 1, **common},
                    "quorum": {
                        "models": ["m100", "m200", STRAGGLER[0]],
                        "mode": "merge",
                        "quorum": 2,
                        "grace_s": GRACE_S,
                        **common,
                    },
                },
            },
        }
    )


# -- the bare baseline: the same HTTP calls, no engine --------------------------------------


class Baseline:
    """A fusion's HTTP calls with no engine: members under asyncio.gather, then the judge."""

    async def call(self, model: str, messages: list[dict[str, Any]], stream: bool) -> str:
        raise NotImplementedError

    async def run(self, mode: str) -> str:
        answers = await asyncio.gather(*(self.call(m, QUESTION, False) for m in MEMBERS))
        if mode == "debate":
            revise = "Others answered:\n{}\nRevise your answer."
            answers = await asyncio.gather(
                *(
                    self.call(m, [*QUESTION, {"role": "user", "content": revise.format(a)}], False)
                    for m, a in zip(MEMBERS, answers, strict=True)
                )
            )
        blocks = "\n\n".join(f"[{chr(65 + i)}]\n{a}" for i, a in enumerate(answers))
        wants_answer = mode != "best-of"
        keys = '"scores", "winner", "rationale"' + (', "answer"' if wants_answer else "")
        judge_messages = [
            {"role": "system", "content": f"Judge the answers. Reply with JSON with keys {keys}."},
            {"role": "user", "content": f"USER: {QUESTION[0]['content']}\n\n{blocks}"},
        ]
        # As engine.run(): nobody reads the answer as it is written, so the judge is not streamed.
        return await self.call(JUDGE[0], judge_messages, False)


class BareLiteLLM(Baseline):
    """Raw `litellm.acompletion` calls: the floor for anything built on LiteLLM."""

    def __init__(self, model_list: list[dict[str, Any]]) -> None:
        import litellm  # noqa: TID251 - the bare side is LiteLLM itself, without EvoFuse

        self.acompletion = litellm.acompletion
        self.params = {d["model_name"]: d["litellm_params"] for d in model_list}

    async def call(self, model: str, messages: list[dict[str, Any]], stream: bool) -> str:
        params = {**self.params[model], "messages": messages, "max_tokens": 1024}
        if not stream:
            response = await self.acompletion(**params)
            return str(response.choices[0].message.content)
        response = await self.acompletion(
            **params, stream=True, stream_options={"include_usage": True}
        )
        return "".join([c.choices[0].delta.content or "" async for c in response if c.choices])


class RawHTTP(Baseline):
    """Plain httpx and json: what the loopback and the scripted upstream cost by themselves."""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self.client = client
        self.url = f"{base_url}/chat/completions"

    async def call(self, model: str, messages: list[dict[str, Any]], stream: bool) -> str:
        body = {"model": model, "messages": messages, "max_tokens": 1024}
        if not stream:
            response = await self.client.post(self.url, json=body)
            return str(response.json()["choices"][0]["message"]["content"])
        parts: list[str] = []
        body |= {"stream": True, "stream_options": {"include_usage": True}}
        async with self.client.stream("POST", self.url, json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    chunk = json.loads(line[6:])
                    if chunk["choices"]:
                        parts.append(chunk["choices"][0]["delta"].get("content") or "")
        return "".join(parts)


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Series:
    floor_ms: float
    wall_ms: list[float] = field(default_factory=list)

    @property
    def overhead_ms(self) -> list[float]:
        return [w - self.floor_ms for w in self.wall_ms]

    def summary(self) -> dict[str, float]:
        over = sorted(self.overhead_ms)
        if not over:
            return {}
        return {
            "median": statistics.median(over),
            "p95": over[max(0, math.ceil(0.95 * len(over)) - 1)],  # nearest rank
            "min": over[0],
            "max": over[-1],
        }


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


def check_engine_result(mode: str, result: FusionResult) -> str | None:
    """What went wrong in a run that should have been clean (None: nothing)."""
    statuses = {c.model: c.status for c in result.candidates}
    if mode == "quorum":
        expected = {"m100": "ok", "m200": "ok", STRAGGLER[0]: "cancelled"}
        if statuses != expected:
            return f"quorum statuses {statuses}"
    elif result.degraded:
        return f"{mode} degraded: {result.degraded_reasons}"
    if result.judge.status != "ok":
        return f"{mode}: judge {result.judge.status} {result.judge.error}"
    return None


SIDES = {"evofuse": "EvoFuse", "litellm": "bare LiteLLM", "http": "raw HTTP"}


@dataclass
class Measured:
    series: dict[str, dict[str, Series]]  # side -> case -> series
    quorum: Series
    problems: list[str]


async def measure(args: argparse.Namespace, base_url: str, progress: Progress) -> Measured:
    settings = settings_for(base_url)
    engine = FusionEngine(settings)
    engine.gateway.warm_up()
    modes = list(FLOORS)
    problems: list[str] = []

    async def run_engine(profile: str, seed: int) -> None:
        result = await engine.run(QUESTION, FusionOptions(profile=profile, seed=seed))
        if problem := check_engine_result(profile, result):
            problems.append(problem)

    async with httpx.AsyncClient(timeout=30) as client:
        bare = BareLiteLLM(settings.router_model_list())
        raw = RawHTTP(client, base_url)
        runners: dict[str, Callable[[str, int], Awaitable[Any]]] = {
            "evofuse": run_engine,
            "litellm": lambda mode, _seed: bare.run(mode),
            "http": lambda mode, _seed: raw.run(mode),
        }
        per_round = len(runners) * len(modes) + 1

        warm = progress.add_task("warm-up (excluded)", total=args.warmup * per_round)
        for i in range(args.warmup):
            for mode in modes:
                for runner in runners.values():
                    await runner(mode, i)
                    progress.advance(warm)
            await run_engine("quorum", i)
            progress.advance(warm)
        problems.clear()

        series = {side: {mode: Series(FLOORS[mode]) for mode in modes} for side in runners}
        quorum = Series(QUORUM_FLOOR)
        task = progress.add_task("measuring", total=args.requests * per_round)
        sides = list(runners)
        for i in range(args.requests):
            for mode in modes:
                # Interleaved, and rotating who goes first, so drift hits every side alike.
                for side in sides[i % len(sides) :] + sides[: i % len(sides)]:
                    ms = await timed(partial(runners[side], mode, i))
                    series[side][mode].wall_ms.append(ms)
                    progress.advance(task)
            quorum.wall_ms.append(await timed(partial(run_engine, "quorum", i)))
            progress.advance(task)
    return Measured(series, quorum, problems)


# -- reporting ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        **machine_facts(),
        "platform": platform.platform(),
        "litellm": metadata.version("litellm"),
        "evofuse": metadata.version("evofuse"),
        # uvicorn's http="auto" picks httptools when it is installed
        "upstream_http": "httptools" if importlib.util.find_spec("httptools") else "h11",
    }


def markdown(data: Measured, facts: dict[str, Any], args: argparse.Namespace) -> str:
    def f(x: float) -> str:
        return f"{x:.1f}"

    head = ["case", "floor (ms)"]
    for label in SIDES.values():
        head += [f"{label} median", f"{label} p95"]
    head += ["EvoFuse - bare LiteLLM (median)", "EvoFuse median ≤ 10 ms"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 2) + ":---:|"]
    for mode in FLOORS:
        cells = ["debate (1 round)" if mode == "debate" else mode, f(FLOORS[mode])]
        stats = {side: data.series[side][mode].summary() for side in SIDES}
        for side in SIDES:
            cells += [f(stats[side]["median"]), f(stats[side]["p95"])]
        own = stats["evofuse"]["median"] - stats["litellm"]["median"]
        cells += [f(own), "yes" if stats["evofuse"]["median"] <= TARGET_MS else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    q = data.quorum.summary()
    cells = ["quorum 2 of 100/200/3000 ms, grace 0.2 s", f(data.quorum.floor_ms)]
    cells += [f(q["median"]), f(q["p95"])] + ["—"] * (2 * len(SIDES) - 1)
    cells += ["yes" if q["median"] <= TARGET_MS else "no"]
    lines.append("| " + " | ".join(cells) + " |")
    slowest = max(data.quorum.wall_ms)
    waited = "WAITED" if slowest >= STRAGGLER[1] else "never waited"
    lines += [
        "",
        f"Overhead = wall time - physical floor (ms), median and p95 over {args.requests} "
        f"requests per case, after {args.warmup} warm-up rounds (excluded). Quorum case: the "
        f"slowest of its requests took {slowest:.0f} ms; it {waited} for the "
        f"{STRAGGLER[1]} ms member.",
        "",
        f"Machine: nproc={facts['nproc']} ({facts['cpu']}), Python {facts['python']}, "
        f"LiteLLM {facts['litellm']}, upstream uvicorn+{facts['upstream_http']} in a "
        f"{args.upstream}; {facts['platform']}; 1-min load average {facts['loadavg_1min'][0]} "
        f"before, {facts['loadavg_1min'][1]} after.",
    ]
    return "\n".join(lines)


def as_json(data: Measured, facts: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    def entry(series: Series) -> dict[str, Any]:
        return {
            "floor_ms": series.floor_ms,
            "overhead_ms": series.summary(),
            "wall_ms": series.wall_ms,
        }

    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": facts,
        "settings": {
            "requests": args.requests,
            "warmup": args.warmup,
            "answer_chars": args.answer_chars,
            "chunk_chars": args.chunk_chars,
            "upstream": args.upstream,
            "members_ms": MEMBERS,
            "judge_ms": JUDGE[1],
            "target_median_ms": TARGET_MS,
        },
        **{side: {m: entry(s) for m, s in data.series[side].items()} for side in SIDES},
        "quorum": {
            **entry(data.quorum),
            "members_ms": {"m100": 100, "m200": 200, STRAGGLER[0]: STRAGGLER[1]},
            "grace_s": GRACE_S,
            "waited_for_straggler": max(data.quorum.wall_ms) >= STRAGGLER[1],
        },
        "problems": data.problems,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="measured requests per case")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up rounds, not measured")
    parser.add_argument("--answer-chars", type=int, default=400, help="each member's answer length")
    parser.add_argument("--chunk-chars", type=int, default=4, help="characters per streamed chunk")
    parser.add_argument("--upstream", choices=["process", "thread"], default="process")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a median misses the target")
    args = parser.parse_args()
    # LiteLLM would otherwise fetch its price map from the internet on import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

    load_before = os.getloadavg()[0]
    stderr = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with upstream(upstream_script(args.answer_chars, args.chunk_chars), args.upstream) as base_url:
        with Progress(*columns, console=stderr) as progress:
            data = asyncio.run(measure(args, base_url, progress))
    facts = machine() | {"loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    print(markdown(data, facts, args))
    if args.json_out:
        text = json.dumps(as_json(data, facts, args), indent=2) + "\n"
        args.json_out.write_text(text, encoding="utf-8")
    for problem in data.problems:
        stderr.print(f"[red]problem:[/] {problem}", highlight=False)
    if max(data.quorum.wall_ms) >= STRAGGLER[1]:
        stderr.print("[red]The quorum case waited for the 3000 ms member.[/]")
        return 1
    medians = [s.summary()["median"] for s in data.series["evofuse"].values()]
    if args.check and max([*medians, data.quorum.summary()["median"]]) > TARGET_MS:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where does the CPU of one fusion request go? EvoFuse's own code against the libraries under it.

One process runs `FusionEngine.run` (two members and a merge judge: three model calls) through
the real LiteLLM gateway against a scripted OpenAI-compatible upstream in its own process (so
the upstream's CPU is not counted), `--concurrency` requests at a time. Two measurements:

- **CPU per request**: `time.process_time()` over `--requests` requests, unprofiled;
- **where it goes**: the same run under cProfile with a CPU-time clock, exclusive time grouped
  by the package that owns each function (`builtins` are C functions called from anywhere,
  mostly `isinstance`/`getattr` inside the libraries). Shares are what matters: the profiler
  itself multiplies the absolute figures.
- **CPU per model call, layer by layer**: the same non-streamed call made through EvoFuse's
  gateway, LiteLLM's Router, `litellm.acompletion`, the OpenAI SDK and bare httpx, in
  interleaved rounds (`--layer-rounds`), so each layer's own cost is the difference to the one
  below it.

CPU time, unlike wall time, barely depends on what else the machine runs, but caches and
frequency scaling still move it by tens of percent on a busy machine: compare shares, and
absolute figures only within one run.

    .venv/bin/python benchmarks/cpu_profile.py                     # ~1 minute
    .venv/bin/python benchmarks/cpu_profile.py --requests 500 --json-out cpu.json
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from bench_common import machine_facts
from evofuse.config.loader import settings_from_mapping
from evofuse.fusion import FusionEngine
from evofuse.testing import (
    DEFAULT_API_KEY,
    JUDGE,
    ModelBehavior,
    UpstreamScript,
    model_entry,
    upstream_process,
)

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


def owner(filename: str) -> str:
    """The package a profiled function belongs to."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/evofuse/" in filename:
        return "evofuse." + filename.split("/evofuse/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if filename.startswith("~"):
        return "builtins (C, called from any of the above)"
    return "stdlib: " + os.path.basename(filename)


async def requests(engine: FusionEngine, n: int, concurrency: int) -> None:
    slots = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with slots:
            await engine.run(QUESTION)

    await asyncio.gather(*(one() for _ in range(n)))


LAYERS = ("evofuse gateway", "litellm Router", "litellm.acompletion", "openai SDK", "httpx")


def layer_calls(
    engine: FusionEngine, url: str, sdk: Any, client: httpx.AsyncClient
) -> dict[str, Callable[[], Awaitable[Any]]]:
    """One non-streamed call to model m1, made through each layer of the stack (`sdk`: an
    `openai.AsyncOpenAI`, `client`: httpx with the key, both for `url`)."""
    import litellm  # noqa: TID251 - the layers under EvoFuse's gateway, measured one by one

    gateway = engine.gateway.inner  # the LiteLLM gateway itself, without the tracing wrapper
    router = gateway.router

    async def raw() -> Any:
        response = await client.post(
            "/chat/completions", json={"model": "m1", "messages": QUESTION}
        )
        return response.raise_for_status().json()

    return {
        "evofuse gateway": lambda: gateway.complete("m1", QUESTION, timeout_s=30),
        "litellm Router": lambda: router.acompletion(model="m1", messages=QUESTION),
        "litellm.acompletion": lambda: litellm.acompletion(
            model="openai/m1", api_base=url, api_key=DEFAULT_API_KEY, messages=QUESTION
        ),
        "openai SDK": lambda: sdk.chat.completions.create(model="m1", messages=QUESTION),
        "httpx": raw,
    }


def measure_layers(engine: FusionEngine, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """CPU ms per call for each layer: median over interleaved rounds of `--layer-calls`."""

    async def rounds() -> dict[str, list[float]]:
        import openai

        headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        async with (
            openai.AsyncOpenAI(base_url=url, api_key=DEFAULT_API_KEY) as sdk,
            httpx.AsyncClient(base_url=url, headers=headers) as client,
        ):
            return await timed_rounds(layer_calls(engine, url, sdk, client))

    async def timed_rounds(
        calls: dict[str, Callable[[], Awaitable[Any]]],
    ) -> dict[str, list[float]]:
        slots = asyncio.Semaphore(args.concurrency)

        async def batch(call: Callable[[], Awaitable[Any]], n: int) -> float:
            async def one() -> None:
                async with slots:
                    await call()

            started = time.process_time()
            await asyncio.gather(*(one() for _ in range(n)))
            return (time.process_time() - started) / n * 1000

        for call in calls.values():  # warm: connections, clients, lazy imports
            await batch(call, 16)
        samples: dict[str, list[float]] = {name: [] for name in LAYERS}
        for round_ in range(args.layer_rounds):
            order = list(LAYERS) if round_ % 2 == 0 else list(reversed(LAYERS))
            for name in order:
                samples[name].append(await batch(calls[name], args.layer_calls))
        return samples

    samples = asyncio.run(rounds())
    return {
        name: {
            "median_ms": round(statistics.median(values), 2),
            "min_ms": round(min(values), 2),
            "max_ms": round(max(values), 2),
        }
        for name, values in samples.items()
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    script = UpstreamScript(
        models={
            "m1": ModelBehavior(content="Four."),
            "m2": ModelBehavior(content="It is 4."),
            "j": JUDGE,
        }
    )
    price = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
    with upstream_process(script) as url:
        settings = settings_from_mapping(
            {
                "model_list": [model_entry(n, url, **price) for n in ("m1", "m2", "j")],
                "fusion": {
                    "default_profile": "p",
                    "profiles": {"p": {"models": ["m1", "m2"], "judge": "j", "mode": "merge"}},
                },
            }
        )
        engine = FusionEngine(settings)
        engine.gateway.warm_up()
        asyncio.run(requests(engine, 20, args.concurrency))  # connections, caches, lazy imports

        print("unprofiled run...", file=sys.stderr)
        started = time.process_time()
        asyncio.run(requests(engine, args.requests, args.concurrency))
        cpu_ms = (time.process_time() - started) / args.requests * 1000

        print("profiled run...", file=sys.stderr)
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        asyncio.run(requests(engine, args.requests, args.concurrency))
        profile.disable()

        print("per-call layers...", file=sys.stderr)
        layers = measure_layers(engine, url, args)
    by_owner: collections.Counter[str] = collections.Counter()
    for (filename, _, _), (_, _, exclusive, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        by_owner[owner(filename)] += exclusive
    total = sum(by_owner.values())
    return {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "cpu_ms_per_request": round(cpu_ms, 2),
        "shares": {name: round(t / total, 4) for name, t in by_owner.most_common()},
        "layers": layers,
        "layer_calls": args.layer_calls,
        "layer_rounds": args.layer_rounds,
        "load_average": os.getloadavg(),
        "machine": machine_facts(),
        "versions": {p: metadata.version(p) for p in ("litellm", "httpx", "openai", "aiohttp")},
    }


def markdown(result: dict[str, Any], top: int = 12) -> str:
    lines = [
        f"CPU per fusion request (three model calls), unprofiled: "
        f"**{result['cpu_ms_per_request']} ms** ({result['requests']} requests, "
        f"{result['concurrency']} at a time)",
        "",
        "| owner | share of the profiled CPU time |",
        "|---|---:|",
    ]
    shares = list(result["shares"].items())
    for name, share in shares[:top]:
        lines.append(f"| {name} | {share:.1%} |")
    rest = sum(share for _, share in shares[top:])
    lines.append(f"| everything else | {rest:.1%} |")
    evofuse = sum(share for name, share in shares if name.startswith("evofuse."))
    lines += ["", f"EvoFuse's own code, all packages together: {evofuse:.1%}."]
    lines += [
        "",
        f"CPU per non-streamed model call ({result['layer_rounds']} interleaved rounds of "
        f"{result['layer_calls']} calls, {result['concurrency']} at a time):",
        "",
        "| layer | median ms | range |",
        "|---|---:|---:|",
    ]
    for name, layer in result["layers"].items():
        lines.append(
            f"| {name} | {layer['median_ms']:.2f} "
            f"| {layer['min_ms']:.2f} to {layer['max_ms']:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--layer-calls", type=int, default=100, help="calls per layer and round")
    parser.add_argument("--layer-rounds", type=int, default=5)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    result = measure(args)
    print(markdown(result))
    print(f"\n1-min load average after: {result['load_average'][0]:.2f}")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

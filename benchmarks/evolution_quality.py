"""Does evolution make skills better on tasks it never saw? A before/after study with a control.

For each reasoning-gym family (`--families`) a plain seed skill is published. Two arms start
from the same seed library in their own store: `evolve` and `control`. In each of `--cycles`
rounds, simulated users (`--users` per tenant in `--tenants` tenants) run training tasks
(reasoning-gym seed 1000 + round) through the real runtime (`assistant` graph, the skill forced),
and rate each run with the checker's score, flipped for a share of runs (`--flip`). Then the
`evolve` arm runs one real evolution cycle (Evolver, gate with held-out replay, canary 0 %: a
passed proposal is active at once); the `control` arm runs nothing. Both arms make the same runs.

Accuracy is measured before the first round and after the last, on held-out tasks of another
seed (90_000 + family index), never run through the runtime and never shown to the Evolver,
answered with each arm's active skill version by the same fusion profile. Reported: accuracy
with a 95 % Wilson interval per arm and time, the change (after - before) per arm, and the paired
comparison of the two arms after (tasks only one arm got right, with an exact McNemar p-value).

    .venv/bin/python benchmarks/evolution_quality.py                      # offline, local model
    .venv/bin/python benchmarks/evolution_quality.py --families basic_arithmetic \\
        --tenants 3 --users 1 --train 2 --cycles 1 --heldout 8            # ~15 min on 2 cores
    OPENROUTER_API_KEY=... .venv/bin/python benchmarks/evolution_quality.py \\
        --config examples/configs/openrouter.yaml --profile quick --heldout 40 --cycles 3

Runtime grows with families x (tenants x users x train x cycles + 2 x heldout x 2 arms) fusion
steps, plus per cycle one Evolver call and 4 x replay_tasks replay calls. With the default
evofuse.yaml the local model serves on a free port and `--profile single` (one member, no judge)
keeps each step to one model call. Markdown to stdout, progress to stderr, raw numbers as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml

from bench_common import machine_facts
from evofuse.config import Settings
from evofuse.config.loader import settings_from_mapping
from evofuse.eval.checks import is_correct, score
from evofuse.eval.stats import mcnemar_exact, wilson_interval
from evofuse.eval.suites import Suite, reasoning_gym_suite
from evofuse.evolution.cycle import EvolutionCycle
from evofuse.localmodel import local_model_running
from evofuse.options import FusionOptions, ModelSettings
from evofuse.services import Services
from evofuse.store.feedback import record_feedback

REPO = Path(__file__).resolve().parents[1]
SEED_SKILL = """---
name: {name}
description: >-
  Solve {family} tasks step by step and give the final answer. Use for {family} questions.
  NOT for: other kinds of tasks.
---
# {family}

Work through the task briefly, then end with one line: `Answer: <the answer only>`.
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_settings(args: argparse.Namespace, folder: Path) -> Settings:
    raw: dict[str, Any] = yaml.safe_load(Path(args.config).read_text())
    local = raw.get("local_model", {}).get("enabled", False)
    if local:
        port = _free_port()
        old = f"http://127.0.0.1:{raw['local_model'].get('port', 8766)}/v1"
        for deployment in raw["model_list"]:
            if deployment["litellm_params"].get("api_base") == old:
                deployment["litellm_params"]["api_base"] = f"http://127.0.0.1:{port}/v1"
        raw["local_model"]["port"] = port
    profiles = raw["fusion"]["profiles"]
    if args.profile == "single" and "single" not in profiles:
        first = profiles[raw["fusion"]["default_profile"]]
        profiles["single"] = {
            **first,
            "models": [first["models"][0]],
            "mode": "single",
            "quorum": 1,
            "timeout_s": args.timeout,
        }
    raw["fusion"]["default_profile"] = args.profile
    skills = folder / "skills"
    for family in args.families:
        name = skill_name(family)
        (skills / name).mkdir(parents=True, exist_ok=True)
        (skills / name / "SKILL.md").write_text(SEED_SKILL.format(name=name, family=family))
    raw["skills"] = {"dir": str(skills), "embedding": raw.get("skills", {}).get("embedding")}
    raw["skills"] = {k: v for k, v in raw["skills"].items() if v is not None}
    raw["graphs"] = str(REPO / "langgraph.json")
    raw["evolution"] = {
        **raw.get("evolution", {}),
        "profile": args.profile,
        "min_distinct_users": min(3, args.tenants * args.users),
        "replay_tasks": args.replay_tasks,
        "canary_percent": 0,
        "max_tokens": args.max_tokens * 2,
        "max_cost_usd": args.budget,
    }
    return settings_from_mapping(raw, source=f"{args.config} (benchmark)")


def skill_name(family: str) -> str:
    return "rg-" + family.replace("_", "-")


def with_storage(settings: Settings, folder: Path) -> Settings:
    storage = settings.storage.model_copy(
        update={"database_url": f"sqlite:///{folder / 'evofuse.db'}", "chroma": str(folder / "c")}
    )
    return settings.model_copy(update={"storage": storage})


async def accuracy(services: Services, suite: Suite, max_tokens: int) -> list[bool]:
    """Held-out tasks answered with the arm's active skill version; nothing is recorded."""
    name = skill_name(suite.name.removeprefix("rg:"))
    [active] = [v for v in services.library.versions(name) if v.status == "active"]
    body = services.library.load_version(active.id).spec.body.strip()
    out = []
    for item in suite.items:
        result = await services.engine.run(
            [{"role": "user", "content": item.question}],
            FusionOptions(sampling=ModelSettings(max_tokens=max_tokens)),
            instructions=body,
        )
        out.append(is_correct(score(item, result.content, suite.rg_dataset)))
    return out


async def train(
    services: Services,
    suite: Suite,
    users: list[tuple[str, str]],
    rng: random.Random,
    flip: float,
    max_tokens: int,
) -> list[float]:
    """Each user runs its share of the round's tasks and rates each with the checker's score."""
    ratings = []
    async with services.runner() as runner:
        for i, item in enumerate(suite.items):
            user, tenant = users[i % len(users)]
            result = await runner.run(
                "assistant",
                item.question,
                user=user,
                tenant=tenant,
                skill=skill_name(suite.name.removeprefix("rg:")),
                options=FusionOptions(sampling=ModelSettings(max_tokens=max_tokens)),
            )
            value = score(item, result.answer, suite.rg_dataset)
            rating = 1.0 - value if rng.random() < flip else value
            record_feedback(services.store, run_id=result.run_id, score=rating, comment=None)
            ratings.append(value)
    return ratings


async def study(args: argparse.Namespace, settings: Settings, root: Path) -> dict[str, Any]:
    users = [
        (f"user-{t}-{u}", f"tenant-{t}") for t in range(args.tenants) for u in range(args.users)
    ]
    arms = {arm: Services.from_settings(with_storage(settings, root / arm)) for arm in ARMS}
    held: dict[str, Suite] = {
        f: reasoning_gym_suite(f, size=args.heldout, seed=90_000 + i)
        for i, f in enumerate(args.families)
    }
    out: dict[str, Any] = {"arms": {arm: {"before": {}, "after": {}} for arm in ARMS}}
    try:
        for arm, services in arms.items():
            for family, suite in held.items():
                say(f"{arm}: held-out accuracy before, {family}")
                out["arms"][arm]["before"][family] = await accuracy(
                    services, suite, args.max_tokens
                )
        out["cycles"] = []
        for round_ in range(args.cycles):
            for arm, services in arms.items():
                rng = random.Random(f"{args.seed}:{round_}")  # same flips in both arms
                for family in args.families:
                    size = args.train * len(users)
                    suite = reasoning_gym_suite(family, size=size, seed=1000 + round_)
                    say(f"{arm}: round {round_ + 1}, {size} training runs of {family}")
                    await train(services, suite, users, rng, args.flip, args.max_tokens)
                if arm == "evolve":
                    say(f"evolve: evolution cycle {round_ + 1}")
                    report = await EvolutionCycle(
                        services.settings,
                        store=services.store,
                        library=services.library,
                        engine=services.engine,
                        trigger="benchmark",
                    ).execute()
                    out["cycles"].append(
                        {
                            "status": report.status,
                            "error": report.error,
                            "evidence": [
                                {"skill": e.skill, "runs": e.runs, "note": e.note}
                                for e in report.evidence
                            ],
                            "proposals": [
                                {
                                    "skill": p.skill,
                                    "action": p.action,
                                    "status": p.status,
                                    "reason": p.reason,
                                    "replay": None
                                    if p.replay is None
                                    else p.replay.model_dump(exclude={"judgments"}),
                                }
                                for p in report.proposals
                            ],
                        }
                    )
        for arm, services in arms.items():
            for family, suite in held.items():
                say(f"{arm}: held-out accuracy after, {family}")
                out["arms"][arm]["after"][family] = await accuracy(services, suite, args.max_tokens)
    finally:
        for services in arms.values():
            services.close()
    return out


ARMS = ("evolve", "control")


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr)


def table(out: dict[str, Any]) -> str:
    lines = [
        "| arm | before | after | change | tasks |",
        "|---|---|---|---|---|",
    ]
    flat: dict[str, dict[str, list[bool]]] = {}
    for arm in ARMS:
        flat[arm] = {
            when: [x for fam in out["arms"][arm][when].values() for x in fam]
            for when in ("before", "after")
        }
        b, a = flat[arm]["before"], flat[arm]["after"]
        lo_b, hi_b = wilson_interval(sum(b), len(b))
        lo_a, hi_a = wilson_interval(sum(a), len(a))
        lines.append(
            f"| {arm} | {sum(b) / len(b):.0%} ({lo_b:.0%}-{hi_b:.0%}) | "
            f"{sum(a) / len(a):.0%} ({lo_a:.0%}-{hi_a:.0%}) | "
            f"{(sum(a) - sum(b)) / len(a):+.0%} | {len(a)} |"
        )
    pairs = list(zip(flat["evolve"]["after"], flat["control"]["after"], strict=True))
    wins = sum(e and not c for e, c in pairs)
    losses = sum(c and not e for e, c in pairs)
    lines.append(
        f"\nAfter, evolve vs control on the same held-out tasks: {wins} right only with "
        f"evolution, {losses} only without; McNemar exact p = {mcnemar_exact(wins, losses):.3f}"
    )
    for i, cycle in enumerate(out.get("cycles", []), start=1):
        if not cycle["proposals"]:
            notes = "; ".join(f"{e['skill']}: {e['note']}" for e in cycle.get("evidence", []))
            lines.append(f"- cycle {i}: no proposal ({notes or cycle['status']})")
        for p in cycle["proposals"]:
            replay = p["replay"]
            numbers = (
                f"; replay {replay['wins']} won, {replay['losses']} lost, {replay['ties']} tied, "
                f"{replay['invalid']} invalid"
                if replay
                else ""
            )
            lines.append(
                f"- cycle {i}: {p['skill']} {p['action']} → {p['status']}: {p['reason'][:160]}"
                f"{numbers}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default=str(REPO / "evofuse.yaml"))
    parser.add_argument(
        "--profile",
        default="single",
        help="fusion profile for every step (default: single, "
        "the config's default profile reduced to its first member)",
    )
    parser.add_argument("--families", default="basic_arithmetic,leg_counting")
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--users", type=int, default=1, help="per tenant")
    parser.add_argument("--train", type=int, default=2, help="training runs per user per round")
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--heldout", type=int, default=12, help="held-out tasks per family")
    parser.add_argument("--flip", type=float, default=0.1, help="share of flipped ratings")
    parser.add_argument("--replay-tasks", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=256, help="per answer")
    parser.add_argument("--timeout", type=float, default=300, help="per model call (single)")
    parser.add_argument("--budget", type=float, default=2.0, help="USD per evolution cycle")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    args.families = [f.strip() for f in args.families.split(",") if f.strip()]
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    started = time.perf_counter()
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = load_settings(args, root)
        os.chdir(root)  # the local model's log goes under .evofuse/ there
        try:
            local = settings.local_model
            with local_model_running(local, quiet=True) if local.enabled else nullcontext():
                out = asyncio.run(study(args, settings, root))
        finally:
            os.chdir(cwd)
    out["facts"] = {
        **machine_facts(),
        "config": args.config,
        "profile": args.profile,
        "families": args.families,
        "args": {k: v for k, v in vars(args).items() if k != "json_out"},
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    print(table(out))
    f = out["facts"]
    print(
        f"\n{args.config} · profile {args.profile} · {', '.join(args.families)} · "
        f"{args.tenants}x{args.users} users · {args.cycles} cycles · {f['minutes']} min · "
        f"load average before {' '.join(f['loadavg_before'])}, after {' '.join(f['loadavg_after'])}"
    )
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()

"""How long does one evolution cycle take, and how much memory, as recorded runs grow?

Each size runs in a fresh process: the seed skills are imported, N runs are recorded (70 % with a
skill, 30 % without; ~85 % of skill runs scored, 10 % rated with a comment, two skills doing
badly with some failed runs; 300 users in 3 tenants; created over the last 30 days), then one
full cycle runs against a scripted upstream that answers at once (0 ms), so the figures are
EvoFuse's own work: SQL aggregation, scrubbing, embedding and clustering, prompt building,
parsing, the gate, publishing, and the fusion engine's per-call overhead (LLM latency excluded).

    .venv/bin/python benchmarks/evolution.py                 # 1k, 10k, 100k runs
    .venv/bin/python benchmarks/evolution.py --sizes 1000 5000 --json-out evo.json

"evidence" is the time from the start of evidence gathering to the start of clustering; "peak
RSS growth" is the child's peak resident memory during the cycle minus its size just before.
The Markdown table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
USERS = 300
BAD_SKILLS = ("sql-review", "commit-message")
POOL_TASKS = [
    "Plan a three-day trip to {city} with a small budget",
    "Translate this paragraph about {city} into German",
    "Write a limerick about a cat who lives in {city}",
    "Suggest a weekly workout plan for a beginner in {city}",
    "Draft a polite complaint to my landlord in {city} about the heating",
]
SKILL_TASKS = {
    "sql-review": "Is this SQL query correct: SELECT * FROM t{n} JOIN u ON t{n}.id = u.t_id",
    "commit-message": "Write a commit message for the fix to the pager off-by-one #{n}",
    "code-review": "Review this pull request #{n} before I merge it",
    "unit-tests": "Write unit tests for the parse_date function, case {n}",
    "explain-error": "Explain this error: KeyError: 'user_{n}'",
    "meeting-notes": "Turn these notes from meeting {n} into minutes",
}


def _brain(body: dict[str, Any]) -> str:
    """The scripted models: improve the bad skills, skip the rest, judge by a marker."""
    user = "\n".join(str(m.get("content")) for m in body["messages"] if m["role"] == "user")
    system = "\n".join(str(m.get("content")) for m in body["messages"] if m["role"] == "system")
    if "## Current SKILL.md of" in user:
        ids = [line.split("]")[0][1:] for line in user.splitlines() if line.startswith("[e")]
        return json.dumps(
            {
                "action": "improve",
                "rationale": "users report failures " + " ".join(ids),
                "evidence": ids,
                "edits": [{"find": "", "replace": "## Also\n\nState your assumptions first."}],
            }
        )
    if "no existing skill covers well" in user:
        return json.dumps({"action": "skip", "rationale": "benchmark", "evidence": []})
    if "Two assistants answered the same task" in user:
        first = user.split("## Answer 1", 1)[1].split("## Answer 2", 1)[0]
        return json.dumps({"winner": "1" if "assumptions" in first else "2", "reason": "x"})
    return "Stated assumptions first." if "State your assumptions" in system else "An answer."


def _populate(store: Any, library: Any, n: int, rng: random.Random) -> None:
    from sqlalchemy import insert

    from evofuse.store import OutcomeRow, utcnow
    from evofuse.store.feedback import FeedbackRow
    from evofuse.store.runs import RunRow, StepRow

    versions = {v.name: v for v in (library.load(s.name).info for s in library.list_skills())}
    names = sorted(SKILL_TASKS)
    now = utcnow()
    runs, steps, outcomes, feedback = [], [], [], []
    for i in range(n):
        run_id = uuid.UUID(int=rng.getrandbits(128)).hex
        user = f"user-{rng.randrange(USERS)}"
        tenant = f"tenant-{int(user.split('-')[1]) % 3}"
        created = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        skill = rng.choice(names) if rng.random() < 0.7 else None
        bad = skill in BAD_SKILLS
        status = "failed" if bad and rng.random() < 0.05 else "succeeded"
        task = (
            SKILL_TASKS[skill].format(n=i)
            if skill
            else rng.choice(POOL_TASKS).format(city=rng.choice(["Lisbon", "Oslo", "Lima", "Kyoto"]))
        )
        runs.append(
            {
                "id": run_id,
                "graph": "assistant",
                "tenant": tenant,
                "user_hash": user,
                "thread_id": None,
                "skill_name": skill,
                "skill_version": versions[skill].version if skill else None,
                "skill_version_id": versions[skill].id if skill else None,
                "task": task,
                "status": status,
                "error": "timeout" if status == "failed" else None,
                "answer": "An answer.",
                "cost_usd": 0.001,
                "prompt_tokens": 100,
                "completion_tokens": 50,
                "latency_ms": 900.0,
                "owner": "bench",
                "created_at": created,
                "finished_at": created,
            }
        )
        steps.append(
            {
                "run_id": run_id,
                "index": 0,
                "name": "answer",
                "mode": "merge",
                "status": status,
                "content": "An answer.",
                "degraded": False,
                "degraded_reasons": [],
                "prompt_versions": [],
                "created_at": created,
            }
        )
        if skill and status == "succeeded" and rng.random() < 0.85:
            score = rng.uniform(0.0, 0.5) if bad else rng.uniform(0.5, 1.0)
            outcomes.append(
                {
                    "run_id": run_id,
                    "skill_version_id": versions[skill].id,
                    "skill_name": skill,
                    "version": versions[skill].version,
                    "tenant": tenant,
                    "user_hash": user,
                    "score": score,
                    "source": "judge",
                    "created_at": created,
                }
            )
            if rng.random() < 0.1:
                feedback.append(
                    {
                        "run_id": run_id,
                        "tenant": tenant,
                        "user_hash": user,
                        "score": score,
                        "comment": "It did not say which assumptions it made.",
                        "created_at": created,
                    }
                )
    with store.session() as session:
        connection = session.connection()
        for table, rows in (
            (RunRow, runs),
            (StepRow, steps),
            (OutcomeRow, outcomes),
            (FeedbackRow, feedback),
        ):
            for start in range(0, len(rows), 5000):
                connection.execute(insert(table), rows[start : start + 5000])  # type: ignore[arg-type]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(n: int) -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from evofuse.config.loader import settings_from_mapping
    from evofuse.evolution.cycle import EvolutionCycle
    from evofuse.services import Services
    from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, UpstreamServer, model_entry

    member = ModelBehavior(respond=_brain)
    script = UpstreamScript(models={"m1": member, "m2": member, "j": JUDGE}, default=None)
    with tempfile.TemporaryDirectory() as tmp, UpstreamServer(script) as upstream:
        price = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
        settings = settings_from_mapping(
            {
                "model_list": [
                    model_entry(m, upstream.base_url, **price) for m in ("m1", "m2", "j")
                ],
                "fusion": {
                    "default_profile": "evo",
                    "profiles": {"evo": {"models": ["m1", "m2"], "judge": "j", "mode": "merge"}},
                },
                "storage": {"database_url": f"sqlite:///{tmp}/evo.db", "chroma": f"{tmp}/chroma"},
                "skills": {"dir": str(REPO / "skills")},
                "evolution": {"profile": "evo", "max_cost_usd": 100.0, "canary_percent": 10},
            }
        )
        services = Services.from_settings(settings)
        library = services.library
        started = time.perf_counter()
        _populate(services.store, library, n, random.Random(n))
        setup_s = time.perf_counter() - started
        library.index.embed(["warm up the embedding model"])
        services.engine.gateway.warm_up()
        from evofuse.evolution.pii import default_scrubber

        default_scrubber().scrub("warm up presidio")
        marks: dict[str, float] = {}

        def progress(what: str, _done: int, _total: int) -> None:
            marks.setdefault(what, time.perf_counter())

        rss_before = _rss_mb()
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cycle = EvolutionCycle.from_services(services, progress=progress)
        started = time.perf_counter()
        report = asyncio.run(cycle.execute())
        total_s = time.perf_counter() - started
        peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        services.close()
    evidence_s = marks["clustering tasks without a skill"] - marks["gathering evidence"]
    ordered = [*sorted(marks.items(), key=lambda kv: kv[1]), ("end", started + total_s)]
    stages = {a[0]: round(b[1] - a[1], 3) for a, b in itertools.pairwise(ordered)}
    return {
        "runs": n,
        "setup_s": round(setup_s, 2),
        "cycle_s": round(total_s, 3),
        "evidence_s": round(evidence_s, 3),
        "llm_calls": sum(1 for p in report.proposals)
        + sum((p.replay.tasks * 4 if p.replay else 0) for p in report.proposals),
        "proposals": {p.skill: p.status for p in report.proposals},
        "status": report.status,
        "stages_s": stages,
        "peak_rss_growth_mb": round(max(0.0, peak_after - max(peak_before, rss_before)), 1),
        "rss_mb": round(peak_after, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return
    rows = []
    for n in args.sizes:
        print(f"{n} runs…", file=sys.stderr)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n)],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    print(
        "| recorded runs | cycle (s) | evidence (s) | evidence per 1k runs (ms) | "
        "fusion calls | peak RSS growth (MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        per_k = r["evidence_s"] / (r["runs"] / 1000) * 1000
        print(
            f"| {r['runs']:,} | {r['cycle_s']:.2f} | {r['evidence_s']:.2f} | {per_k:.0f} | "
            f"{r['llm_calls']} | {r['peak_rss_growth_mb']:.0f} |"
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

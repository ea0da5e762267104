"""How long does each dashboard page take the server with 10,000 runs and 100 skills?

Seeds one SQLite deployment: 100 global skills (through the `Library`; one of them with six
versions, the newest an open canary of an evolution cycle), 10,000 runs of one tenant spread
over 30 days (each with a step, two candidates, a verdict and a judge outcome; one in five also
rated by its user), and 40 stored evolution cycles of 12 proposals each with their diffs.
Then every page is requested through the real app in-process (httpx's ASGI transport, logged
in with a key cookie, so the key lookup is counted) and timed: no network and no browser, only
what the server does. Target: every page's median within 200 ms.

    .venv/bin/python benchmarks/ui_pages.py              # Markdown table on stdout
    .venv/bin/python benchmarks/ui_pages.py --runs 2000 --repeat 5
    .venv/bin/python benchmarks/ui_pages.py --database-url postgresql+psycopg://…/empty_db
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from bench_common import machine_facts
from evofuse.api import create_app
from evofuse.config.loader import settings_from_mapping
from evofuse.evolution.report import Check, CycleReport, Proposal
from evofuse.services import Services
from evofuse.skills import Bundle, BundleFile, Origin
from evofuse.skills.diff import text_diff
from evofuse.skills.models import PUBLIC
from evofuse.skills.spec import parse_skill_md
from evofuse.store import OutcomeSource, Scope, SkillVersionRow, Status, record_outcome, utcnow
from evofuse.store.evolution import CanaryRow, save_cycle, start_cycle
from evofuse.store.feedback import FeedbackRow
from evofuse.store.keys import create_key
from evofuse.store.runs import CandidateRow, RunRow, StepRow, VerdictRow

TARGET_MS = 200.0
REPO = Path(__file__).resolve().parents[1]
TENANT = "acme"
SKILL = """---
name: {name}
description: Skill number {n} of the benchmark, about topic {n} and its common tasks.
---
# {name}

Step {version}: handle topic {n} carefully.
"""


def skill_bundle(n: int, version: int = 1) -> Bundle:
    text = SKILL.format(name=f"skill-{n:03d}", n=n, version=version)
    return Bundle.of([BundleFile("SKILL.md", text.encode())])


def seed_skills(services: Services, skills: int) -> list[tuple[str, int, int]]:
    """Publish the skills; returns (name, version, version row id) of every live version."""
    library = services.library
    parsed = []
    for n in range(skills):
        bundle = skill_bundle(n)
        spec, issues = parse_skill_md(bundle.skill_md, path="SKILL.md")
        assert spec is not None
        parsed.append((bundle, spec, issues))
    library.publish_many(parsed, scope=Scope.GLOBAL, context=PUBLIC, origin=Origin.SEED)
    for version in range(2, 7):  # skill-000 gets a lineage; its newest is an evolution canary
        canary = version == 6
        library.publish(
            skill_bundle(0, version),
            origin=Origin.EVOLUTION if canary else Origin.IMPORT,
            status=Status.CANDIDATE if canary else Status.ACTIVE,
        )
    newest = library.versions("skill-000")[-1]
    with services.store.session() as session:
        row = session.get(SkillVersionRow, newest.id)
        assert row is not None
        session.add(
            CanaryRow(
                skill_id=row.skill_id,
                skill_name=newest.name,
                version_id=newest.id,
                version=newest.version,
                baseline_mean=0.6,
                percent=10.0,
                cycle_id=1,
            )
        )
    return [
        (v.name, v.version, v.id)
        for info in library.list_skills()
        for v in library.versions(info.name)
        if v.status in (Status.ACTIVE.value, Status.CANDIDATE.value)
    ]


def seed_runs(services: Services, live: list[tuple[str, int, int]], runs: int) -> str:
    """`runs` runs of one tenant over 30 days, with their steps and outcomes; returns one id."""
    rng = random.Random(7)
    now = utcnow()
    batch = 500
    for start in range(0, runs, batch):
        with services.store.session() as session:
            for i in range(start, min(start + batch, runs)):
                name, version, version_id = rng.choice(live)
                created = now - timedelta(minutes=rng.uniform(0, 30 * 24 * 60))
                run_id = f"run{i:06d}"
                user = f"user{rng.randrange(300):03d}"
                failed = rng.random() < 0.05
                session.add(
                    RunRow(
                        id=run_id,
                        graph=rng.choice(("assistant", "code_review", "research_brief")),
                        tenant=TENANT,
                        user_hash=user,
                        skill_name=name,
                        skill_version=version,
                        skill_version_id=version_id,
                        task=f"task {i} about {name}",
                        status="failed" if failed else "succeeded",
                        answer=f"answer {i}",
                        latency_ms=rng.uniform(300, 3000),
                        cost_usd=0.002,
                        created_at=created,
                        finished_at=created,
                    )
                )
                session.flush()
                step = StepRow(run_id=run_id, index=0, name="answer", status="succeeded")
                session.add(step)
                session.flush()
                assert step.id is not None
                for model in ("m1", "m2"):
                    session.add(
                        CandidateRow(step_id=step.id, model=model, status="ok", latency_ms=400.0)
                    )
                session.add(VerdictRow(step_id=step.id, status="ok", winner="m1", scores=[]))
                score = rng.betavariate(4, 2)
                outcome = record_outcome(
                    session,
                    run_id=run_id,
                    skill_version_id=version_id,
                    skill_name=name,
                    version=version,
                    tenant=TENANT,
                    user_hash=user,
                    score=score,
                    source=OutcomeSource.JUDGE,
                )
                outcome.created_at = created
                if rng.random() < 0.2:
                    rating = FeedbackRow(run_id=run_id, tenant=TENANT, user_hash=user, score=score)
                    rating.created_at = created
                    session.add(rating)
    return "run000042"


def seed_cycles(services: Services, cycles: int) -> int:
    diff = text_diff(
        SKILL.format(name="skill-000", n=0, version=1),
        SKILL.format(name="skill-000", n=0, version=2),
        old_label="skill-000 v1",
        new_label="proposed",
    )
    checks = [Check(name=f"check-{c}", passed=c != 3, detail="why") for c in range(12)]
    for n in range(cycles):
        cycle_id = start_cycle(services.store, trigger="scheduler", dry_run=False, holder="bench")
        proposals = [
            Proposal(
                source="evolver",
                skill=f"skill-{p:03d}",
                action="improve",
                status="rejected",
                reason="replay: net -0.2",
                gate=checks,
                base_version=1,
                diff=diff,
            )
            for p in range(12)
        ]
        report = CycleReport(
            id=cycle_id,
            status="finished",
            trigger="scheduler",
            dry_run=False,
            started_at=utcnow(),
            profile="p",
            budget_usd=2.0,
            cost_usd=0.05 * n,
            proposals=proposals,
        )
        save_cycle(
            services.store,
            cycle_id,
            status="finished",
            report=report.model_dump(mode="json"),
            summary=report.summary(),
            cost_usd=report.cost_usd,
        )
    return cycle_id


async def time_pages(
    services: Services, pages: dict[str, str], repeat: int
) -> dict[str, list[float]]:
    app = create_app(services)
    key = create_key(services.store, tenant=TENANT, operator=True).secret
    transport = httpx.ASGITransport(app=app)
    timings: dict[str, list[float]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        login = await client.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', login.text)
        assert token
        done = await client.post("/ui/login", data={"key": key, "csrf_token": token[1]})
        assert done.status_code == 303, done.text
        for label, path in pages.items():
            warm = await client.get(path)  # first use: templates compiled, caches filled
            assert warm.status_code == 200, (path, warm.status_code, warm.text[-500:])
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = await client.get(path)
                samples.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            timings[label] = samples
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--skills", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--database-url", help="an empty database to seed instead (e.g. PostgreSQL); default SQLite"
    )
    args = parser.parse_args()
    os.environ.setdefault("EVOFUSE_USER_HASH_SECRET", "benchmark")
    with tempfile.TemporaryDirectory() as folder:
        settings = settings_from_mapping(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/x"}}],
                "fusion": {"default_profile": "p", "profiles": {"p": {"models": ["m"]}}},
                "storage": {
                    "database_url": args.database_url or f"sqlite:///{folder}/evofuse.db",
                    "chroma": f"{folder}/chroma",
                },
                "skills": {"dir": f"{folder}/none"},
                "graphs": str(REPO / "langgraph.json"),
                "ui": {"results_dir": str(REPO / "benchmarks" / "results")},
            }
        )
        services = Services.from_settings(settings)
        started = time.perf_counter()
        live = seed_skills(services, args.skills)
        run_id = seed_runs(services, live, args.runs)
        cycle_id = seed_cycles(services, args.cycles)
        seeded_s = time.perf_counter() - started
        pages = {
            "/ui (skill list)": "/ui",
            "/ui?q= (Selector search)": "/ui?q=handle+topic+42+carefully",
            "/ui/skills/{name} (6 versions, canary)": "/ui/skills/skill-000",
            "/ui/skills/{name} (1 version)": "/ui/skills/skill-050",
            "/ui/runs": "/ui/runs",
            "/ui/runs (skill + status filter)": "/ui/runs?skill=skill-007&status=failed",
            "/ui/runs (user filter)": "/ui/runs?user=user12",
            "/ui/runs (page 100)": "/ui/runs?offset=4950",
            "/ui/runs/{id}": f"/ui/runs/{run_id}",
            "/ui/evolution": "/ui/evolution",
            "/ui/evolution/{id} (12 proposals)": f"/ui/evolution/{cycle_id}",
            "/ui/quality": "/ui/quality",
        }
        load = Path("/proc/loadavg").read_text().split()[:3]
        timings = asyncio.run(time_pages(services, pages, args.repeat))
        services.close()
    facts = machine_facts()
    database = "PostgreSQL" if (args.database_url or "").startswith("postgresql") else "SQLite"
    print(
        f"{args.runs} runs, {args.skills} skills, {args.cycles} cycles on {database} (seeded in "
        f"{seeded_s:.0f} s); {args.repeat} requests per page after one warm-up; "
        f"{facts['nproc']} cores, {facts['cpu']}; load average {' '.join(load)}\n"
    )
    print("| page | median ms | p95 ms | max ms | within 200 ms |")
    print("|---|---:|---:|---:|---|")
    for label, samples in timings.items():
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        median = statistics.median(samples)
        verdict = "yes" if median <= TARGET_MS else f"no (+{median - TARGET_MS:.0f} ms)"
        print(f"| {label} | {median:.1f} | {p95:.1f} | {ordered[-1]:.1f} | {verdict} |")


if __name__ == "__main__":
    main()

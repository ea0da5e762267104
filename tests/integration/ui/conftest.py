"""A real `evofuse serve` over a seeded deployment, started once for the dashboard's tests.

Seeded the way a deployment fills up: skills through the `Library`, keys through the key store,
runs through POST /v1/chat/completions (the scripted upstream of the evolution tests answers),
ratings through POST /v1/feedback, and the evolved version through a real evolution cycle
(POST /v1/evolution/runs). Only tenant `globex`'s older outcomes are written through the store
directly, backdated by days, so that the success plot has days to show.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from evofuse.config.loader import load_settings
from evofuse.evolution.evidence import is_held_out
from evofuse.skills import Bundle, BundleFile, Library, Origin
from evofuse.skills.models import Context
from evofuse.store import OutcomeSource, Scope, Store, record_outcome, utcnow
from evofuse.store.keys import create_key
from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, UpstreamServer, model_entry
from tests.integration.api.conftest import PRICE, REPO, serve
from tests.integration.evolution.conftest import SKILL, TASKS, Brain

V1_LINE = "Assume the query runs against production data."
V2_LINE = "Assume the query runs against production data with millions of rows."
SKILL_V2 = SKILL.replace(V1_LINE, V2_LINE)
PRIVATE_SKILL = """---
name: acme-playbook
description: How acme reviews its own billing queries before a release.
---
# Acme playbook

Check the billing tables twice.
"""
HOSTILE_COMMENT = "<script>alert('x')</script> never says which database & version it assumes"
# globex's backdated outcomes: (version, days ago, scores) -> one plot point each.
GLOBEX_HISTORY = [
    (1, 5, (0.4, 0.6)),
    (1, 4, (0.5,)),
    (1, 3, (0.3, 0.5, 0.4)),
    (2, 2, (0.6,)),
    (2, 1, (0.7, 0.5)),
    (3, 0, (0.9,)),
]
EVIDENCE_TENANTS = ("t1", "t2", "t3")  # a global skill's support counts distinct tenants


@dataclass
class Deployment:
    url: str
    folder: Path
    keys: dict[str, str] = field(
        default_factory=dict
    )  # admin (an operator of acme), viewer (acme), globex, t1..t3
    acme_runs: list[str] = field(default_factory=list)
    cycle_id: int = 0

    def api(self, role: str, method: str, path: str, **options: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **options)

    def active_version(self, name: str = "sql-review") -> int:
        response = self.api("admin", "GET", f"/v1/skills/{name}")
        assert response.status_code == 200, response.text
        version: int = response.json()["version"]
        return version


def write_config(folder: Path, upstream_url: str) -> Path:
    config = {
        "model_list": [model_entry(n, upstream_url, **PRICE) for n in ("m1", "m2", "j")],
        "fusion": {
            "default_profile": "p",
            "profiles": {
                "p": {"models": ["m1", "m2"], "judge": "j", "mode": "merge", "timeout_s": 30}
            },
        },
        "storage": {"database_url": f"sqlite:///{folder}/evofuse.db", "chroma": "chroma"},
        "skills": {"dir": "no-seed-skills"},
        "graphs": str(REPO / "langgraph.json"),
        "auth": {"enabled": True},
        "evolution": {
            "min_distinct_users": 3,
            "profile": "p",
            "replay_tasks": 2,
            "canary_percent": 50,
            "canary_min_samples": 5,
            "max_cost_usd": 5.0,
        },
        "ui": {"results_dir": str(REPO / "benchmarks" / "results")},
    }
    path = folder / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def seed_library_and_keys(config: Path, deployment: Deployment) -> None:
    """Before the server starts: three skills (one private to acme) and the keys."""
    library = Library.from_settings(load_settings(config))
    try:
        for text, origin in ((SKILL, Origin.SEED), (SKILL_V2, Origin.IMPORT)):
            library.publish(Bundle.of([BundleFile("SKILL.md", text.encode())]), origin=origin)
        library.publish(
            Bundle.of([BundleFile("SKILL.md", PRIVATE_SKILL.encode())]),
            scope=Scope.TENANT,
            context=Context("acme"),
        )
        store = library.store
        keys = deployment.keys
        keys["admin"] = create_key(store, tenant="acme", name="admin", operator=True).secret
        keys["viewer"] = create_key(store, tenant="acme", name="viewer").secret
        keys["globex"] = create_key(store, tenant="globex").secret
        for tenant in EVIDENCE_TENANTS:
            keys[tenant] = create_key(store, tenant=tenant).secret
    finally:
        library.close()


def chat(deployment: Deployment, role: str, user: str, task: str) -> tuple[str, dict[str, Any]]:
    body = {
        "model": "assistant",
        "user": user,
        "messages": [{"role": "user", "content": task}],
        "evofuse": {"skill": "sql-review"},  # the Selector's relevance cut is not under test
    }
    response = deployment.api(role, "POST", "/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    run_id = response.headers["X-EvoFuse-Run-Id"]
    run = deployment.api(role, "GET", f"/v1/runs/{run_id}").json()
    return run_id, run


def rate(deployment: Deployment, role: str, run_id: str, score: float, comment: str) -> None:
    body = {"run_id": run_id, "score": score, "comment": comment}
    response = deployment.api(role, "POST", "/v1/feedback", json=body)
    assert response.status_code == 200, response.text


def seed_runs(deployment: Deployment) -> None:
    """Runs that use sql-review: rated badly in three tenants (the evidence), held-out ones
    for the gate's replay, and acme's own runs (one rated with text that must be escaped)."""
    held_out = 0
    tasks = iter(TASKS * 20)
    for tenant in EVIDENCE_TENANTS:
        rated = 0
        while rated < 2 or (tenant == EVIDENCE_TENANTS[-1] and held_out < 3):
            run_id, run = chat(deployment, tenant, f"{tenant}-user", next(tasks))
            assert run["skill"] and run["skill"]["name"] == "sql-review", run
            if is_held_out(run_id, 25.0):
                held_out += 1
                continue
            rate(deployment, tenant, run_id, 0.1, "It never says which database it assumes.")
            rated += 1
    for task in TASKS[:2]:
        run_id, _ = chat(deployment, "admin", "ann", task)
        deployment.acme_runs.append(run_id)
    rate(deployment, "admin", deployment.acme_runs[0], 0.8, HOSTILE_COMMENT)


def run_cycle(deployment: Deployment, timeout_s: float = 240.0) -> None:
    response = deployment.api("admin", "POST", "/v1/evolution/runs", json={})
    assert response.status_code == 202, response.text
    deployment.cycle_id = response.json()["id"]
    deadline = time.monotonic() + timeout_s
    while True:
        report = deployment.api("admin", "GET", f"/v1/evolution/runs/{deployment.cycle_id}").json()
        if report["status"] != "running":
            break
        assert time.monotonic() < deadline, f"cycle {deployment.cycle_id} still running"
        time.sleep(0.5)
    promoted = [p for p in report["proposals"] if p["status"] == "promoted"]
    assert promoted and promoted[0]["new_version"] == 3, report


def seed_globex_history(config: Path) -> None:
    """globex's outcomes on each version over past days (what its success plot shows)."""
    settings = load_settings(config)
    store = Store(settings.storage.database_url)
    library = Library(store, lambda: pytest.fail("the index is not needed here"))
    try:
        ids = {v.version: v.id for v in library.versions("sql-review")}
        with store.session() as session:
            for n, (version, days_ago, scores) in enumerate(GLOBEX_HISTORY):
                for m, score in enumerate(scores):
                    row = record_outcome(
                        session,
                        run_id=f"globex-history-{n}-{m}",
                        skill_version_id=ids[version],
                        skill_name="sql-review",
                        version=version,
                        tenant="globex",
                        user_hash="globex-user",
                        score=score,
                        source=OutcomeSource.FEEDBACK,
                    )
                    row.created_at = utcnow() - timedelta(days=days_ago)
    finally:
        store.close()


@pytest.fixture(scope="package")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("dashboard")
    brain = Brain()
    member = ModelBehavior(respond=brain)
    script = UpstreamScript(models={"m1": member, "m2": member, "j": JUDGE}, default=None)
    with UpstreamServer(script) as upstream:
        config = write_config(folder, upstream.base_url)
        seeded = Deployment(url="", folder=folder)
        seed_library_and_keys(config, seeded)
        with closing(serve(folder, config, upstream)) as servers:
            seeded.url = next(servers).url
            seed_runs(seeded)
            run_cycle(seeded)
            seed_globex_history(config)
            yield seeded

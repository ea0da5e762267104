"""The scaled-out topology as processes: PostgreSQL, `chroma run`, two `evofuse serve` replicas.

Started once for the module. Requests alternate between the replicas; each test checks that
the two behave as one deployment: a rollback made through one is served by the other on the
next request, and so is a version a cycle started through the other promoted; feedback for a
run served by one is accepted by the other and counted once; a key's rate limit and daily budget
hold across both; two schedulers run one cycle, and one killed mid-cycle is taken over by the
next with nothing half-published; and `kill -9` of one replica loses nothing the other recorded
while the survivor keeps serving. Under CI=true it runs on PostgreSQL (and fails
without it); elsewhere it skips when no PostgreSQL server answers on 127.0.0.1:5432.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlmodel import col, select

from evofuse.config.loader import load_settings
from evofuse.evolution.evidence import is_held_out
from evofuse.skills import Bundle, BundleFile, Library, Origin
from evofuse.store import Store
from evofuse.store.feedback import FeedbackRow
from evofuse.store.keys import create_key, get_key
from evofuse.store.runs import RunRow
from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, UpstreamServer, model_entry
from tests.integration.evolution.conftest import FIX, TASKS, Brain
from tests.integration.evolution.conftest import SKILL as SQL_REVIEW
from tests.support.databases import fresh_postgres_database

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 120.0
HOLDOUT_PERCENT = 50.0
REPLAY_TASKS = 2
SKILL = """---
name: topology-demo
description: "Answer arithmetic questions step by step. NOT for: anything else."
---
# Arithmetic

Version marker: {marker}
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "EVOFUSE_USER_HASH_SECRET": "shared-by-every-replica",
        "ANONYMIZED_TELEMETRY": "False",
    }


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{process.args} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Topology:
    config: Path
    folder: Path
    upstream: UpstreamServer
    store: Store
    replicas: list[Replica]
    key: str
    admin: str

    def headers(self, admin: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin if admin else self.key}"}

    def chat(self, replica: Replica, key: str | None = None, **body: Any) -> httpx.Response:
        body.setdefault("model", "fusion/p")
        body.setdefault("messages", [{"role": "user", "content": "What is 2 + 2?"}])
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.post(
            f"{replica.url}/v1/chat/completions", json=body, headers=headers, timeout=60
        )


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    folder = tmp_path_factory.mktemp("topology")
    processes: list[subprocess.Popen[bytes]] = []
    # m1/m2 answer chat; e1/e2 think for evolution (a scripted Evolver, replay and judge).
    thinker = ModelBehavior(respond=Brain())
    script = UpstreamScript(
        models={
            "m1": ModelBehavior(content="Four.", latency_ms=50),
            "m2": ModelBehavior(content="It is 4.", latency_ms=50),
            "e1": thinker,
            "e2": thinker.model_copy(),
            "j": JUDGE,
        }
    )
    with fresh_postgres_database() as database_url, UpstreamServer(script) as upstream:
        chroma_port = _free_port()
        chroma_log = folder / "chroma.log"
        with chroma_log.open("wb") as log:
            chroma = subprocess.Popen(
                [
                    str(BIN / "chroma"),
                    "run",
                    "--path",
                    str(folder / "chroma"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(chroma_port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_env(),
            )
        processes.append(chroma)
        try:
            _wait_healthy(chroma, f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", chroma_log)
            config = folder / "evofuse.yaml"
            price = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
            config.write_text(
                yaml.safe_dump(
                    {
                        "model_list": [
                            model_entry(n, upstream.base_url, **price)
                            for n in ("m1", "m2", "e1", "e2", "j")
                        ],
                        "fusion": {
                            "default_profile": "p",
                            "profiles": {
                                "p": {"models": ["m1", "m2"], "judge": "j", "timeout_s": 30},
                                "evo": {
                                    "models": ["e1", "e2"],
                                    "judge": "j",
                                    "mode": "merge",
                                    "timeout_s": 90,
                                },
                            },
                        },
                        "evolution": {
                            "profile": "evo",
                            "min_distinct_users": 3,
                            "holdout_percent": HOLDOUT_PERCENT,
                            "replay_tasks": REPLAY_TASKS,
                            "canary_percent": 100,
                        },
                        "storage": {
                            "database_url": database_url,
                            "chroma": f"http://127.0.0.1:{chroma_port}",
                        },
                        "skills": {"dir": str(folder / "no-seed-skills")},
                        "graphs": str(REPO / "langgraph.json"),
                        "auth": {"enabled": True},
                    }
                )
            )
            settings = load_settings(config)
            library = Library.from_settings(settings)
            for text in (SKILL.format(marker="one"), SKILL.format(marker="two"), SQL_REVIEW):
                library.publish(
                    Bundle.of([BundleFile("SKILL.md", text.encode())]), origin=Origin.SEED
                )
            library.close()
            store = Store(database_url)
            replicas = []
            for name in ("a", "b"):
                port = _free_port()
                log_path = folder / f"replica-{name}.log"
                with log_path.open("wb") as log:
                    process = subprocess.Popen(
                        [
                            str(BIN / "evofuse"),
                            "serve",
                            "--port",
                            str(port),
                            "--no-access-log",
                            "--config",
                            str(config),
                        ],
                        cwd=folder,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=_env(),
                    )
                processes.append(process)
                url = f"http://127.0.0.1:{port}"
                _wait_healthy(process, url + "/healthz", log_path)
                replicas.append(Replica(name, url, process))
            yield Topology(
                config=config,
                folder=folder,
                upstream=upstream,
                store=store,
                replicas=replicas,
                key=create_key(store, tenant="acme").secret,
                admin=create_key(store, tenant="ops", operator=True).secret,
            )
            store.close()
        finally:
            # Stop every process at once, then wait: one at a time, slow shutdowns add up past
            # the test timeout, which covers the module's teardown too.
            running = [p for p in reversed(processes) if p.poll() is None]
            for process in running:
                process.terminate()
            deadline = time.monotonic() + 15
            for process in running:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _served_version(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    skill = response.json()["evofuse"]["skill"]
    assert skill is not None and skill["name"] in ("topology-demo", "sql-review")
    version: int = skill["version"]
    return version


def test_a_rollback_through_one_replica_is_served_by_the_other_at_once(
    topology: Topology,
) -> None:
    a, b = topology.replicas
    named = {"evofuse": {"skill": "topology-demo"}}
    assert _served_version(topology.chat(a, **named)) == 2
    assert _served_version(topology.chat(b, **named)) == 2

    rolled = httpx.post(
        f"{a.url}/v1/skills/topology-demo/rollback",
        json={"to": 1},
        headers=topology.headers(admin=True),
        timeout=30,
    )
    assert rolled.status_code == 200, rolled.text

    # The bound is the next request: every replica reads the active version from PostgreSQL
    # and the Chroma server per request, and caches only immutable versions by id.
    assert _served_version(topology.chat(b, **named)) == 1
    assert _served_version(topology.chat(a, **named)) == 1

    back = httpx.post(
        f"{b.url}/v1/skills/topology-demo/rollback",
        json={"to": 2},
        headers=topology.headers(admin=True),
        timeout=30,
    )
    assert back.status_code == 200, back.text
    assert _served_version(topology.chat(a, **named)) == 2


def test_feedback_for_a_run_served_by_the_other_replica_counts_once(topology: Topology) -> None:
    a, b = topology.replicas
    served = topology.chat(b, user="dana")
    assert served.status_code == 200, served.text
    run_id = served.json()["evofuse"]["run_id"]
    for replica, score in ((a, 0.2), (b, 0.9), (a, 0.8)):
        rated = httpx.post(
            f"{replica.url}/v1/feedback",
            json={"run_id": run_id, "score": score},
            headers=topology.headers(),
            timeout=30,
        )
        assert rated.status_code in (200, 201), rated.text
    with topology.store.session() as session:
        rows = session.exec(select(FeedbackRow).where(FeedbackRow.run_id == run_id)).all()
    assert [r.score for r in rows] == [0.8]  # one rating per run and user, the latest


def test_a_rate_limit_holds_across_replicas(topology: Topology) -> None:
    limit = 4
    key = create_key(topology.store, tenant="acme", rpm=limit).secret

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:

            async def one(i: int) -> int:
                replica = topology.replicas[i % 2]
                response = await client.post(
                    f"{replica.url}/v1/chat/completions",
                    json={"model": "fusion/p", "messages": [{"role": "user", "content": "2+2?"}]},
                    headers={"Authorization": f"Bearer {key}"},
                )
                return response.status_code

            return await asyncio.gather(*(one(i) for i in range(12)))

    # `--rpm` counts per calendar minute: a burst across a minute boundary may pass twice.
    if 60 - time.time() % 60 < 20:
        time.sleep(60 - time.time() % 60 + 1)
    statuses = asyncio.run(burst())
    assert set(statuses) <= {200, 429}, statuses
    assert limit <= statuses.count(200) <= limit + 1, statuses


def test_a_daily_budget_holds_across_replicas(topology: Topology) -> None:
    a = topology.replicas[0]
    probe = topology.chat(a, user="probe")
    one_request_usd = probe.json()["evofuse"]["cost_usd"]
    assert one_request_usd > 0, probe.json()
    budget = 3.5 * one_request_usd
    new_key = create_key(topology.store, tenant="acme", daily_budget_usd=budget)

    async def wave() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{topology.replicas[i % 2].url}/v1/chat/completions",
                        json={
                            "model": "fusion/p",
                            "messages": [{"role": "user", "content": "2+2?"}],
                        },
                        headers={"Authorization": f"Bearer {new_key.secret}"},
                    )
                    for i in range(8)
                )
            )

    # Waves until both replicas refuse: a per-replica counter would let each spend the budget.
    responses: list[httpx.Response] = []
    for _ in range(6):
        responses += asyncio.run(wave())
        refused_by = {r.url.port for r in responses if r.status_code == 429}
        if len(refused_by) == 2:
            break
    assert {r.status_code for r in responses} <= {200, 429}, [r.text for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {
        "daily_budget_exceeded"
    }
    assert len({r.url.port for r in responses if r.status_code == 429}) == 2
    served = [r.json()["evofuse"]["cost_usd"] for r in responses if r.status_code == 200]
    # Admission reserves the worst case, so the edge overshoots by at most one request.
    assert 0 < sum(served) <= budget + max(served), (served, budget)
    row = get_key(topology.store, new_key.row.id)
    assert row is not None and row.spent_usd == pytest.approx(sum(served))
    assert row.reserved_usd == pytest.approx(0.0, abs=1e-12)  # every reservation settled


def _poor_ratings(topology: Topology, replicas: list[Replica]) -> None:
    """Poor, commented ratings of `sql-review` from three tenants, so a cycle calls the Evolver.

    Sent through the replicas in turn. Each tenant rates until two of its runs count as evidence
    (not held out), and runs go on until the replay has its held-out tasks.
    """
    named = {"evofuse": {"skill": "sql-review"}}
    keys = {t: create_key(topology.store, tenant=f"org-{t}").secret for t in ("ann", "ben", "cal")}
    evidence = dict.fromkeys(keys, 0)
    held_out = 0
    turn = 0
    while min(evidence.values()) < 2 or held_out < REPLAY_TASKS:
        tenant = min(evidence, key=lambda t: evidence[t])
        replica = replicas[turn % len(replicas)]
        question = {"role": "user", "content": TASKS[turn % len(TASKS)]}
        served = topology.chat(replica, key=keys[tenant], user=tenant, messages=[question], **named)
        assert served.status_code == 200, served.text
        assert served.json()["evofuse"]["skill"]["name"] == "sql-review"
        run_id = served.json()["evofuse"]["run_id"]
        rated = httpx.post(
            f"{replica.url}/v1/feedback",
            json={"run_id": run_id, "score": 0.1, "comment": "It never said which database."},
            headers={"Authorization": f"Bearer {keys[tenant]}"},
            timeout=30,
        )
        assert rated.status_code in (200, 201), rated.text
        if is_held_out(run_id, HOLDOUT_PERCENT):
            held_out += 1
        else:
            evidence[tenant] += 1
        turn += 1
        assert turn < 60, (evidence, held_out)


def _wait_for_cycle(topology: Topology, replica: Replica, cycle_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        got = httpx.get(
            f"{replica.url}/v1/evolution/runs/{cycle_id}",
            headers=topology.headers(admin=True),
            timeout=30,
        )
        assert got.status_code == 200, got.text
        report: dict[str, Any] = got.json()
        if report["status"] != "running":
            return report
        assert time.monotonic() < deadline, report
        time.sleep(0.5)


def test_a_version_promoted_by_a_cycle_is_served_by_both_replicas(topology: Topology) -> None:
    a, b = topology.replicas
    named = {"evofuse": {"skill": "sql-review"}}
    before = {_served_version(topology.chat(r, **named)) for r in (a, b)}
    _poor_ratings(topology, [a, b])

    started = httpx.post(
        f"{b.url}/v1/evolution/runs", headers=topology.headers(admin=True), timeout=30
    )
    assert started.status_code == 202, started.text
    report = _wait_for_cycle(topology, b, started.json()["id"])
    assert report["status"] == "finished", report
    [proposal] = [p for p in report["proposals"] if p["skill"] == "sql-review"]
    assert proposal["status"] == "promoted", proposal

    # Published by replica B's cycle as a canary for every user (canary_percent: 100): the
    # next request to either replica gets it, with no restart and no cache to invalidate.
    served = {r.name: topology.chat(r, user=f"new-{r.name}", **named) for r in (a, b)}
    versions = {name: _served_version(response) for name, response in served.items()}
    assert versions["a"] == versions["b"] and {versions["a"]} != before, (before, versions)
    listed = httpx.get(
        f"{a.url}/v1/skills/sql-review/versions", headers=topology.headers(), timeout=30
    ).json()
    newest = max(listed, key=lambda v: v["version"])
    assert newest["version"] == versions["a"] and newest["origin"] == "evolution", newest
    library = Library.from_settings(load_settings(topology.config))
    try:
        assert FIX in library.load_version(newest["id"]).spec.body  # the Evolver's edit
    finally:
        library.close()


def _scheduler(topology: Topology, log: Path) -> subprocess.Popen[bytes]:
    # `--now`: the first cycle starts at once instead of at the crontab slot (a year away).
    env = {**_env(), "EVOFUSE_EVOLUTION__SCHEDULE": "0 0 1 1 *"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN / "evofuse"), "scheduler", "--now", "--config", str(topology.config)],
            cwd=topology.folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _cycles(topology: Topology, replica: Replica) -> list[dict[str, Any]]:
    listed = httpx.get(
        f"{replica.url}/v1/evolution/runs", headers=topology.headers(admin=True), timeout=30
    )
    assert listed.status_code == 200, listed.text
    cycles: list[dict[str, Any]] = listed.json()["data"]
    return cycles


@pytest.mark.timeout(300)  # scheduler start-up and a whole cycle, on a busy machine
def test_two_schedulers_started_together_run_one_cycle(topology: Topology) -> None:
    a = topology.replicas[0]
    _poor_ratings(topology, [a])
    # A slow Evolver: the cycle holds the lease for seconds, well past the moment both
    # schedulers fire (at once, both started with `--now`).
    for model in ("e1", "e2"):
        topology.upstream.script.models[model].latency_ms = 8000.0
    known = {c["id"] for c in _cycles(topology, a)}
    schedulers = []
    logs = []
    try:
        for i in range(2):
            logs.append(topology.folder / f"scheduler-{i}.log")
            schedulers.append(_scheduler(topology, logs[-1]))
        deadline = time.monotonic() + 180
        cycles: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            cycles = [c for c in _cycles(topology, a) if c["id"] not in known]
            if cycles and all(c["status"] != "running" for c in cycles):
                break
            assert all(p.poll() is None for p in schedulers), [p.read_text() for p in logs]
            time.sleep(1)
        assert len(cycles) == 1, cycles
        assert cycles[0]["trigger"] == "scheduler" and cycles[0]["status"] == "finished"
        skipped = [p for p in logs if "evolution cycle skipped" in p.read_text()]
        assert len(skipped) == 1, [p.read_text()[-2000:] for p in logs]
    finally:
        for model in ("e1", "e2"):
            topology.upstream.script.models[model].latency_ms = 0.0
        for process in schedulers:
            process.terminate()
            process.wait(timeout=30)


def _sql_review_versions(topology: Topology, replica: Replica) -> list[dict[str, Any]]:
    listed = httpx.get(
        f"{replica.url}/v1/skills/sql-review/versions", headers=topology.headers(), timeout=30
    )
    assert listed.status_code == 200, listed.text
    versions: list[dict[str, Any]] = listed.json()
    return versions


@pytest.mark.timeout(300)  # scheduler start-up and a whole cycle, on a busy machine
def test_a_scheduler_killed_mid_cycle_is_taken_over_by_the_next(topology: Topology) -> None:
    a = topology.replicas[0]
    _poor_ratings(topology, [a])
    before = _sql_review_versions(topology, a)
    known = {c["id"] for c in _cycles(topology, a)}
    evolver_calls = len(topology.upstream.requests_for("e1"))
    for model in ("e1", "e2"):  # the Evolver's call outlasts the kill
        topology.upstream.script.models[model].latency_ms = 60_000.0
    first = _scheduler(topology, topology.folder / "scheduler-killed.log")
    second = None
    try:
        deadline = time.monotonic() + 150
        # Killed while its Evolver call is in flight: the cycle holds the lease and a proposal.
        while len(topology.upstream.requests_for("e1")) == evolver_calls:
            assert time.monotonic() < deadline, "the killed scheduler never called the Evolver"
            time.sleep(0.2)
        [running] = [c for c in _cycles(topology, a) if c["id"] not in known]
        assert running["status"] == "running", running
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        for model in ("e1", "e2"):
            topology.upstream.script.models[model].latency_ms = 0.0

        second = _scheduler(topology, topology.folder / "scheduler-next.log")
        deadline = time.monotonic() + 150
        cycles: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            cycles = [c for c in _cycles(topology, a) if c["id"] not in known]
            if len(cycles) >= 2 and all(c["status"] != "running" for c in cycles):
                break
            time.sleep(1)
        killed = httpx.get(
            f"{a.url}/v1/evolution/runs/{running['id']}",
            headers=topology.headers(admin=True),
            timeout=30,
        ).json()
        assert killed["status"] == "failed", killed
        assert "stopped before it finished" in (killed["error"] or ""), killed
        [taken_over] = [c for c in cycles if c["id"] > running["id"]]
        assert taken_over["status"] == "finished", taken_over
        report = httpx.get(
            f"{a.url}/v1/evolution/runs/{taken_over['id']}",
            headers=topology.headers(admin=True),
            timeout=30,
        ).json()
        promoted = [p for p in report["proposals"] if p["status"] == "promoted"]
        # Every new version is one the next cycle promoted: the killed cycle left none behind.
        after = _sql_review_versions(topology, a)
        assert len(after) == len(before) + len(promoted), (before, after, report)
    finally:
        for model in ("e1", "e2"):
            topology.upstream.script.models[model].latency_ms = 0.0
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def test_kill_9_of_a_replica_loses_no_run_the_other_recorded(topology: Topology) -> None:
    a, b = topology.replicas
    recorded = []
    for i in range(3):
        for replica in (a, b):
            response = topology.chat(replica, user=f"user-{i}")
            assert response.status_code == 200, response.text
            recorded.append(response.json()["evofuse"]["run_id"])

    b.process.send_signal(signal.SIGKILL)
    b.process.wait(timeout=10)
    assert not b.alive

    after = topology.chat(a, user="after-the-kill")
    assert after.status_code == 200, after.text
    recorded.append(after.json()["evofuse"]["run_id"])
    with topology.store.session() as session:
        rows = session.exec(select(RunRow).where(col(RunRow.id).in_(recorded))).all()
    assert sorted(r.id for r in rows) == sorted(recorded)
    assert {r.status for r in rows} == {"succeeded"}

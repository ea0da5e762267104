"""A cycle started with POST /v1/evolution/runs never stalls the server's event loop.

The app runs in-process with its lifespan; its evolution model is slow (the scripted upstream
holds the Evolver's call) and the cycle's evidence phase is made to block its thread until the
test lets it go. /healthz and a chat request must complete meanwhile: the assertions are about
order (they finished while the cycle was still inside that phase or that call), not timing.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from evofuse.api import create_app
from evofuse.config import Settings
from evofuse.config.loader import settings_from_mapping
from evofuse.evolution.evidence import EvidenceBuilder
from evofuse.fusion import FusionEngine
from evofuse.services import Services
from evofuse.skills import Library, MiniLMEmbedder
from evofuse.skills.index import COLLECTION, SkillIndex, chroma_client
from evofuse.store import Store
from evofuse.store.evolution import acquire_lease, release_lease
from evofuse.store.keys import create_key
from evofuse.testing import (
    JUDGE,
    ModelBehavior,
    RecordedRequest,
    UpstreamScript,
    UpstreamServer,
    model_entry,
)
from tests.integration.evolution.conftest import Brain, Env, poor_outcomes

PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
EVOLVER_PROMPT = "## Current SKILL.md of"


@pytest.fixture
def brain() -> Brain:
    return Brain()


@pytest.fixture
def upstream(brain: Brain) -> Iterator[UpstreamServer]:
    """`e1`/`e2` think for evolution (tests set their latency), `c1`/`c2` answer chat at once."""
    evolution = ModelBehavior(respond=brain)
    script = UpstreamScript(
        models={
            "e1": evolution,
            "e2": evolution,
            "c1": ModelBehavior(content="Chat answer one."),
            "c2": ModelBehavior(content="Chat answer two."),
            "j": JUDGE,
        },
        default=None,
    )
    with UpstreamServer(script) as server:
        yield server


def _settings(upstream: UpstreamServer, tmp_path: Path) -> Settings:
    names = ("e1", "e2", "c1", "c2", "j")
    return settings_from_mapping(
        {
            "model_list": [model_entry(n, upstream.base_url, **PRICE) for n in names],
            "fusion": {
                "default_profile": "chat",
                "profiles": {
                    "chat": {"models": ["c1", "c2"], "judge": "j", "mode": "merge"},
                    "evo": {"models": ["e1", "e2"], "judge": "j", "mode": "merge"},
                },
            },
            "storage": {
                "database_url": f"sqlite:///{tmp_path}/evofuse.db",
                "chroma": str(tmp_path / "chroma"),
            },
            "skills": {"dir": str(tmp_path / "no-seed-skills")},
            "evolution": {
                "profile": "evo",
                "min_distinct_users": 3,
                "replay_tasks": 3,
                "canary_percent": 100,
            },
        }
    )


@dataclass
class Deployment:
    env: Env
    app: Any
    services: Services
    client: httpx.AsyncClient
    admin: dict[str, str]
    user: dict[str, str]

    def evolver_calls(self) -> list[RecordedRequest]:
        return [
            r
            for r in self.env.upstream.requests_for("e1")
            if any(EVOLVER_PROMPT in str(m.get("content")) for m in r.messages)
        ]

    async def wait_for(self, what: str, predicate: Any, timeout_s: float = 60.0) -> None:
        for _ in range(int(timeout_s / 0.05)):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    async def cycle_report(self, cycle_id: int) -> dict[str, Any]:
        response = await self.client.get(f"/v1/evolution/runs/{cycle_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()
        return report


@pytest.fixture
def evolver_latency_ms() -> float:
    return 15_000.0


@pytest.fixture
async def deployment(
    upstream: UpstreamServer,
    brain: Brain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    evolver_latency_ms: float,
) -> AsyncIterator[Deployment]:
    monkeypatch.setenv("EVOFUSE_USER_HASH_SECRET", "off-loop-test")
    settings = _settings(upstream, tmp_path)
    store = Store(settings.storage.database_url)
    index = SkillIndex(chroma_client(settings.storage.chroma), MiniLMEmbedder(), COLLECTION)
    env = Env(settings, store, Library(store, index), FusionEngine(settings), upstream, brain)
    env.publish()
    poor_outcomes(env, ["alice", "bob", "carol"])
    env.held_out_tasks(4)
    # Only the first call (the Evolver's) is slow; the replay that follows answers at once.
    upstream.script.models["e1"].latency_ms = [evolver_latency_ms] + [0.0] * 200

    services = Services.from_settings(settings)
    app = create_app(services)
    admin = {"Authorization": f"Bearer {create_key(store, tenant='ops', operator=True).secret}"}
    user = {"Authorization": f"Bearer {create_key(store, tenant='acme').secret}"}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://evofuse.test", timeout=60
            ) as client:
                yield Deployment(env, app, services, client, admin, user)
    finally:
        services.close()
        env.library.close()


async def test_health_and_chat_answer_while_a_cycle_runs(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_phase, release = threading.Event(), threading.Event()
    phase_over = threading.Event()
    build = EvidenceBuilder.build

    priorities: list[int] = []

    def slow_build(self: EvidenceBuilder) -> Any:
        # A synchronous phase that lasts until the test says so (at most 30 s).
        priorities.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        in_phase.set()
        release.wait(30)
        try:
            return build(self)
        finally:
            phase_over.set()

    monkeypatch.setattr(EvidenceBuilder, "build", slow_build)
    d = deployment
    started = await d.client.post("/v1/evolution/runs", headers=d.admin)
    assert started.status_code == 202, started.text
    cycle_id = started.json()["id"]

    serving_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    await asyncio.to_thread(in_phase.wait, 30)
    # The cycle's thread, and only it, runs at evolution.api_thread_nice (10 by default).
    assert priorities == [max(serving_priority, 10)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == serving_priority
    health = await d.client.get("/healthz")
    assert health.status_code == 200
    assert not phase_over.is_set(), "/healthz waited for the cycle's synchronous phase"
    release.set()

    # Now the Evolver's model call is held by the upstream; chat goes through meanwhile.
    await d.wait_for("the Evolver's call", lambda: bool(d.evolver_calls()))
    question = {"role": "user", "content": f"Hello {uuid.uuid4().hex[:6]}"}
    chat = await d.client.post(
        "/v1/chat/completions",
        json={"model": "fusion/chat", "messages": [question]},
        headers=d.user,
    )
    assert chat.status_code == 200, chat.text
    [evolver] = d.evolver_calls()
    assert evolver.outcome == "pending", "chat waited for the cycle's model call"
    assert (await d.cycle_report(cycle_id))["status"] == "running"

    await d.wait_for("the cycle", lambda: not d.app.state.api.evolution.running)
    report = await d.cycle_report(cycle_id)
    assert report["status"] == "finished", report
    [proposal] = report["proposals"]
    assert proposal["status"] == "promoted", proposal["reason"]


@pytest.mark.parametrize("evolver_latency_ms", [120_000.0])
async def test_shutdown_stops_a_running_cycle_and_stores_its_report(
    deployment: Deployment,
) -> None:
    d = deployment
    started = await d.client.post("/v1/evolution/runs", headers=d.admin)
    assert started.status_code == 202, started.text
    cycle_id = started.json()["id"]
    await d.wait_for("the Evolver's call", lambda: bool(d.evolver_calls()))

    worker = d.app.state.api.evolution
    await worker.aclose()  # what the lifespan does on shutdown

    assert worker.running == []
    [evolver] = d.evolver_calls()
    await d.wait_for("the cancelled call", lambda: evolver.outcome != "pending", 10)
    assert evolver.outcome == "disconnected"  # cancelled, not waited out
    report = await d.cycle_report(cycle_id)
    assert report["status"] == "stopped"
    assert report["stopped_reason"] == "cancelled: the process running the cycle shut down"
    lease = acquire_lease(d.env.store, "next-holder", timedelta(minutes=1))
    release_lease(d.env.store, lease)  # the cancelled cycle let go of the lease

    refused = await d.client.post("/v1/evolution/runs", headers=d.admin)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "shutting_down"

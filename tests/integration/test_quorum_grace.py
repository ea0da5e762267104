"""Quorum + grace and per-member timeouts against a real HTTP upstream on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from evofuse.config.loader import settings_from_mapping
from evofuse.fusion import FusionEngine
from evofuse.options import FusionOptions
from evofuse.testing import ModelBehavior, UpstreamScript, UpstreamServer, model_entry

USER = [{"role": "user", "content": "What is the capital of France?"}]

SCRIPT = UpstreamScript(
    models={
        "m100": ModelBehavior(latency_ms=100, content="Paris."),
        "m200": ModelBehavior(latency_ms=200, content="The capital of France is Paris."),
        "m3000": ModelBehavior(latency_ms=3000, content="Paris, at last."),
        "stuck": ModelBehavior(kind="hang"),
        "judge": ModelBehavior(kind="judge", latency_ms=50),
    },
    default=None,
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer(SCRIPT) as server:
        yield server


def engine_for(upstream: UpstreamServer, profile: dict[str, Any]) -> FusionEngine:
    settings = settings_from_mapping(
        {
            "model_list": [model_entry(name, upstream.base_url) for name in SCRIPT.models],
            "fusion": {"default_profile": "p", "profiles": {"p": {"judge": "judge", **profile}}},
        }
    )
    return FusionEngine(settings)


async def test_quorum_and_grace_cancel_the_straggler(upstream: UpstreamServer) -> None:
    engine = engine_for(
        upstream,
        {"models": ["m100", "m200", "m3000"], "quorum": 2, "grace_s": 0.2, "mode": "merge"},
    )
    engine.gateway.warm_up()  # the litellm import is not what this test times
    started = time.perf_counter()
    result = await engine.run(USER, FusionOptions(seed=1))
    elapsed = time.perf_counter() - started

    status = {c.model: c.status for c in result.candidates}
    assert status == {"m100": "ok", "m200": "ok", "m3000": "cancelled"}
    straggler = next(c for c in result.candidates if c.model == "m3000")
    assert straggler.content is None and straggler.error and "quorum" in straggler.error
    # 200 ms (quorum) + 200 ms (grace) + 50 ms (judge); far from the 3 s member.
    assert elapsed < 1.5, f"fusion took {elapsed:.2f} s: it waited for the straggler"
    assert result.judge.status == "ok" and result.content.startswith("Fused: ")
    assert result.degraded and any("m3000" in reason for reason in result.degraded_reasons)

    # The straggler really was asked, and the cancellation reached it as a disconnect.
    assert upstream.wait_until(
        lambda up: any(r.outcome == "disconnected" for r in up.requests_for("m3000"))
    ), [(r.model, r.outcome) for r in upstream.requests_for("m3000")]
    judged = upstream.requests_for("judge")[-1]
    assert "Paris, at last." not in str(judged.messages)


async def test_a_hanging_member_times_out_and_the_rest_is_judged(upstream: UpstreamServer) -> None:
    engine = engine_for(upstream, {"models": ["m100", "stuck"], "timeout_s": 0.5})
    engine.gateway.warm_up()
    started = time.perf_counter()
    result = await engine.run(USER, FusionOptions(seed=2))
    elapsed = time.perf_counter() - started

    stuck = next(c for c in result.candidates if c.model == "stuck")
    assert stuck.status == "timeout"
    assert stuck.error and "0.5" in stuck.error
    assert 450 <= stuck.latency_ms < 1500  # cut at its timeout_s, not before, not much after
    assert result.content == "Paris."  # only one answer survived: it is returned as is
    assert result.judge.status == "skipped"
    assert elapsed < 2.0
    assert upstream.requests_for("stuck"), "the hanging member was never called"

"""The fake at the gateway seam: a script's models answered in-process, through the real engine."""

from __future__ import annotations

from typing import Any

import pytest

from evofuse.config.loader import settings_from_mapping
from evofuse.errors import AllMembersFailedError
from evofuse.fusion import FusionEngine
from evofuse.llm import ModelGateway
from evofuse.testing import (
    JUDGE,
    ModelBehavior,
    ScriptedGateway,
    UpstreamScript,
    candidate_labels,
    judge_reply,
)

NAMES = ("fast", "slow", "down", "hung", "judge", "picky")
SCRIPT = UpstreamScript(
    models={
        "fast": ModelBehavior(content="Paris."),
        "slow": ModelBehavior(content="The capital is Paris.", latency_ms=50),
        "down": ModelBehavior(kind="error", status=503, message="overloaded"),
        "hung": ModelBehavior(kind="hang"),
        "judge": JUDGE,
        "picky": ModelBehavior(respond=judge_reply(winner="last", answer="Merged: Paris.")),
    },
    default=None,
)


def engine(gateway: ScriptedGateway, **profile: Any) -> FusionEngine:
    settings = settings_from_mapping(
        {
            "model_list": [
                {"model_name": n, "litellm_params": {"model": f"openai/{n}"}} for n in NAMES
            ],
            "fusion": {
                "default_profile": "p",
                "profiles": {"p": {"models": ["fast", "slow"], "judge": "judge", **profile}},
            },
        }
    )
    return FusionEngine(settings, gateway=gateway)


ASK = [{"role": "user", "content": "Capital of France?"}]


def test_it_is_a_model_gateway() -> None:
    gateway: ModelGateway = ScriptedGateway(SCRIPT)
    assert gateway.is_warm and "judge" in gateway.model_names


async def test_a_merge_runs_through_the_real_engine_and_is_recorded() -> None:
    gateway = ScriptedGateway(SCRIPT, prices={"fast": (1e-6, 2e-6)})
    result = await engine(gateway).run(ASK)
    assert result.content.startswith("Fused: ")
    assert {c.model: c.status for c in result.candidates} == {"fast": "ok", "slow": "ok"}
    assert result.cost_usd is None  # slow and judge have no price: unknown, never 0
    fast = next(c for c in result.candidates if c.model == "fast")
    assert fast.cost_usd == pytest.approx(fast.prompt_tokens * 1e-6 + fast.completion_tokens * 2e-6)
    [judged] = gateway.requests_for("judge")
    assert sorted(candidate_labels(judged.body)) == ["A", "B"]
    assert gateway.requests_for("fast")[0].messages == ASK


async def test_failures_are_reported_as_the_real_gateway_does() -> None:
    gateway = ScriptedGateway(SCRIPT)
    result = await engine(gateway, models=["fast", "down", "hung"], timeout_s=0.2).run(ASK)
    status = {c.model: (c.status, c.error or "") for c in result.candidates}
    assert status["down"][0] == "error" and "503" in status["down"][1]
    assert status["hung"][0] == "timeout"
    assert result.degraded
    with pytest.raises(AllMembersFailedError):
        await engine(gateway, models=["down"], mode="single").run(ASK)


async def test_a_function_judge_and_streaming() -> None:
    gateway = ScriptedGateway(SCRIPT)
    pieces: list[str] = []
    async for item in engine(gateway, judge="picky").stream(ASK):
        if isinstance(item, str):
            pieces.append(item)
    assert "".join(pieces) == "Merged: Paris."


async def test_an_unscripted_model_is_a_404_failure() -> None:
    gateway = ScriptedGateway(UpstreamScript(models={"fast": ModelBehavior()}, default=None))
    with pytest.raises(Exception, match="does not exist"):
        await gateway.complete("ghost", ASK, timeout_s=1)

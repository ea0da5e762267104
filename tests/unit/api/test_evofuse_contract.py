"""The `evofuse` object's JSON fields, exactly as the README documents them.

The field sets below were read from the API's responses before the engine's result became the
one typed model the API serialises (`evofuse.fusion.types`, `evofuse.runtime.results`); the
response must keep every one of them, and add none, in plain and streamed completions alike.
"""

from __future__ import annotations

from typing import Any

from evofuse.skills import Bundle, BundleFile, Scope
from tests.unit.api.conftest import Api, sse_chunks

COMPLETION = {"id", "object", "created", "model", "choices", "usage", "system_fingerprint"}
EVOFUSE = {
    "run_id",
    "graph",
    "mode",
    "profile",
    "skill",
    "candidates",
    "judge",
    "cost_usd",
    "latency_ms",
    "degraded",
    "steps",
}
CANDIDATE = {
    "model",
    "status",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "error",
}
JUDGE = {"model", "status", "latency_ms", "cost_usd", "winner"}
SKILL = {"name", "version"}
STEP = {"index", "name", "mode", "cost_usd", "latency_ms", "degraded", "mode_choice"}
MODE_CHOICE = {"mode", "reason", "skill", "cost_unit", "arms"}


def publish_skill(api: Api) -> None:
    text = "---\nname: arithmetic\ndescription: Add numbers.\n---\nShow the sum.\n"
    api.services.library.publish(
        Bundle.of([BundleFile("SKILL.md", text.encode())]), scope=Scope.GLOBAL
    )


def check_evofuse(evofuse: dict[str, Any], *, auto: bool = False) -> None:
    assert set(evofuse) == EVOFUSE
    assert evofuse["candidates"], "a run with members"
    for candidate in evofuse["candidates"]:
        assert set(candidate) == CANDIDATE
    assert set(evofuse["judge"]) == JUDGE
    assert set(evofuse["skill"]) == SKILL
    assert evofuse["steps"]
    for step in evofuse["steps"]:
        assert set(step) == STEP
        if auto:
            assert set(step["mode_choice"]) == MODE_CHOICE


async def test_a_completion_keeps_the_documented_fields(api: Api) -> None:
    publish_skill(api)
    response = await api.chat(evofuse={"skill": "arithmetic"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == COMPLETION | {"evofuse"}
    check_evofuse(body["evofuse"])
    assert body["evofuse"]["skill"] == {"name": "arithmetic", "version": 1}

    auto = (await api.chat(evofuse={"skill": "arithmetic", "mode": "auto"})).json()
    check_evofuse(auto["evofuse"], auto=True)


async def test_a_streamed_completion_ends_with_the_same_fields(api: Api) -> None:
    publish_skill(api)
    response = await api.chat(stream=True, evofuse={"skill": "arithmetic"})
    assert response.status_code == 200, response.text
    [last] = [c for c in sse_chunks(response.text) if "evofuse" in c]
    check_evofuse(last["evofuse"])

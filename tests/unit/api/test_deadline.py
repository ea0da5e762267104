"""A run's overall deadline: members, judge and every step together must end within it.

Profile `p` gives a run 1.5 s (`deadline_s`), each member's call may take 10 s (`timeout_s`), and
the scripted members answer after 4 s: the deadline ends the run, the API answers 504 in
OpenAI's shape, and the run and its step are recorded as out of time.
"""

from __future__ import annotations

from typing import Any

import pytest

from evofuse.store.run_queries import get_run
from evofuse.testing import ModelBehavior, UpstreamServer
from tests.unit.api.conftest import Api, sse_chunks, sse_payloads

DEADLINE_S = 1.5
SLOW = ModelBehavior(content="Late, but correct.", latency_ms=4000)


@pytest.fixture
def app_options() -> dict[str, Any]:
    return {"profile": {"deadline_s": DEADLINE_S}}


def slow_members(api: Api) -> None:
    api.upstream.script.models.update({"m1": SLOW, "m2": SLOW})


def members_hung_up(upstream: UpstreamServer) -> bool:
    calls = [r for r in upstream.requests if r.model in ("m1", "m2")]
    return len(calls) == 2 and all(r.outcome == "disconnected" for r in calls)


async def only_run(api: Api) -> dict[str, Any]:
    runs = (await api.client.get("/v1/runs", headers=api.auth("acme"))).json()["data"]
    [run] = runs
    return get_run(api.services.store, run["run_id"])


def assert_recorded_out_of_time(run: dict[str, Any], deadline_s: float) -> None:
    assert run["status"] == "failed"
    assert run["error"].startswith("deadline_exceeded: ")
    assert f"deadline of {deadline_s:g} s" in run["error"]
    [step] = run["steps"]
    assert step["status"] == "failed" and f"deadline of {deadline_s:g} s" in step["error"]


async def test_a_run_past_the_profile_deadline_is_a_504_and_a_failed_run(api: Api) -> None:
    slow_members(api)
    response = await api.chat()
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert error["code"] == "deadline_exceeded" and error["type"] == "server_error"
    assert f"deadline of {DEADLINE_S:g} s" in error["message"] and "deadline_s" in error["message"]
    run = await only_run(api)
    assert_recorded_out_of_time(run, DEADLINE_S)
    # Ended at the deadline, not when the members answered (the run's own clock: the first
    # request of a process also pays for loading LiteLLM before its run starts).
    assert DEADLINE_S * 1000 <= run["latency_ms"] < 4000
    # and the members' calls were given up on, not left running
    assert api.upstream.wait_until(members_hung_up, timeout_s=10)


async def test_a_streamed_run_past_the_deadline_ends_with_the_error_event(api: Api) -> None:
    slow_members(api)
    response = await api.chat(stream=True)
    assert response.status_code == 200  # the stream had started: the error arrives inside it
    assert "[DONE]" not in sse_payloads(response.text)
    assert sse_chunks(response.text)[-1]["error"]["code"] == "deadline_exceeded"
    assert_recorded_out_of_time(await only_run(api), DEADLINE_S)


async def test_the_request_deadline_replaces_the_profile_deadline(api: Api) -> None:
    slow_members(api)
    response = await api.chat(evofuse={"deadline_s": 0.5})
    assert response.status_code == 504
    assert_recorded_out_of_time(await only_run(api), 0.5)

    # A deadline the run fits in changes nothing.
    api.upstream.script.models.update({"m1": ModelBehavior(content="Four."), "m2": SLOW})
    fast = await api.chat(evofuse={"deadline_s": 30, "models": ["m1"], "mode": "single"})
    assert fast.status_code == 200 and fast.json()["choices"][0]["message"]["content"] == "Four."


async def test_a_deadline_that_is_not_positive_is_a_400(api: Api) -> None:
    response = await api.chat(evofuse={"deadline_s": 0})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "evofuse.deadline_s"

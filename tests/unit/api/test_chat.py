"""POST /v1/chat/completions in-process: shapes, streaming, parameters, overrides, errors."""

from __future__ import annotations

from typing import Any

import pytest

from evofuse.testing import ModelBehavior
from tests.unit.api.conftest import Api, sse_chunks, sse_payloads


def upstream_prompt_tokens(body: dict[str, Any]) -> int:
    """The scripted upstream's documented count: 4 per message plus 4 characters a token."""
    return sum(4 + len(str(m.get("content") or "")) // 4 for m in body["messages"])


async def test_completion_is_a_chat_completion_with_the_evofuse_object(api: Api) -> None:
    response = await api.chat(seed=3)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "fusion/p"
    assert body["id"] == "chatcmpl-" + body["evofuse"]["run_id"]
    assert response.headers["x-evofuse-run-id"] == body["evofuse"]["run_id"]
    [choice] = body["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"].startswith("Fused: ")

    evofuse = body["evofuse"]
    assert evofuse["mode"] == "merge" and evofuse["profile"] == "p"
    assert evofuse["graph"] == "fusion/p" and evofuse["skill"] is None
    assert {c["model"] for c in evofuse["candidates"]} == {"m1", "m2"}
    for candidate in evofuse["candidates"]:
        assert set(candidate) == {
            "model",
            "status",
            "latency_ms",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "error",
        }
        assert candidate["status"] == "ok" and candidate["cost_usd"] > 0
    assert evofuse["judge"]["model"] == "j" and evofuse["judge"]["winner"] in {"m1", "m2"}
    judge_cost = evofuse["judge"]["cost_usd"]
    members_cost = sum(c["cost_usd"] for c in evofuse["candidates"])
    assert evofuse["cost_usd"] == pytest.approx(members_cost + judge_cost)

    # usage sums every call the upstream saw: both members and the judge.
    calls = api.upstream.requests
    assert sorted(r.model for r in calls) == ["j", "m1", "m2"]
    usage = body["usage"]
    assert usage["prompt_tokens"] == sum(upstream_prompt_tokens(r.body) for r in calls)
    assert usage["completion_tokens"] > sum(c["completion_tokens"] for c in evofuse["candidates"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream_is_openai_chunks_ending_with_evofuse_then_done(
    api: Api, include_usage: bool
) -> None:
    plain = (await api.chat(seed=11)).json()
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    response = await api.chat(seed=11, stream=True, **extra)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(response.text)
    assert payloads[-1] == "[DONE]"
    chunks = sse_chunks(response.text)
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == plain["choices"][0]["message"]["content"]
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) > 1

    last = chunks[-1]
    assert [c for c in chunks if "evofuse" in c] == [last]
    assert last["evofuse"]["run_id"] == response.headers["x-evofuse-run-id"]
    assert last["evofuse"]["candidates"] and last["evofuse"]["judge"]["model"] == "j"
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finish] == ["stop"]
    if include_usage:
        assert last["choices"] == [] and last["usage"]["total_tokens"] > 0
        assert all(c["usage"] is None for c in chunks[:-1])
        assert last["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"] * 0.5
    else:
        assert last is finish[0] and "usage" not in last


async def test_standard_parameters_reach_every_member_not_the_judge(api: Api) -> None:
    response = await api.chat(
        temperature=0.3,
        top_p=0.5,
        stop=["END"],
        max_completion_tokens=77,
        presence_penalty=0.25,
        frequency_penalty=-0.5,
        seed=5,
    )
    assert response.status_code == 200, response.text
    members = [r.body for r in api.upstream.requests if r.model != "j"]
    assert len(members) == 2
    for body in members:
        assert body["temperature"] == 0.3 and body["top_p"] == 0.5
        assert body["stop"] == ["END"] and body["max_tokens"] == 77
        assert body["presence_penalty"] == 0.25 and body["frequency_penalty"] == -0.5
    [judge] = [r.body for r in api.upstream.requests if r.model == "j"]
    assert "stop" not in judge and judge.get("temperature") != 0.3


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"logprobs": True}, "logprobs"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"max_tokens": 5, "max_completion_tokens": 6}, "max_completion_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"functions": [{"name": "f"}]}, "functions"),
    ],
)
async def test_parameters_it_cannot_honour_are_refused(
    api: Api, extra: dict[str, Any], param: str
) -> None:
    response = await api.chat(**extra)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert param in error["message"]
    assert api.upstream.requests == []


async def test_accepted_no_op_parameters(api: Api) -> None:
    response = await api.chat(
        n=1,
        response_format={"type": "text"},
        logprobs=False,
        tool_choice="none",
        parallel_tool_calls=False,
        user="u1",
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"temperature": 5}, "temperature"),
        ({"surprise": True}, "surprise"),
        ({"evofuse": {"mode": "majority"}}, "evofuse.mode"),
        ({"evofuse": {"colour": "red"}}, "evofuse.colour"),
        ({"model": ""}, "model"),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"x": 1}]}]},
            "messages.0.tool_calls.0.id",
        ),
        ({"messages": [{"role": "developer", "tool_calls": []}]}, "messages.0"),
        ({"messages": [{"role": "tool", "content": "42"}]}, "messages.0"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages.0.content.0.image_url.image_url.url",
        ),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    api: Api, body: dict[str, Any], param: str
) -> None:
    response = await api.chat(**body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and error["code"] == "invalid_request"
    assert api.upstream.requests == []


async def test_a_body_that_is_not_json_is_a_400(api: Api) -> None:
    response = await api.client.post(
        "/v1/chat/completions",
        content=b"{not json",
        headers={**api.auth("acme"), "content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "not valid JSON at character 1" in error["message"]
    assert error["param"] is None  # a character offset is not a parameter


async def test_messages_a_graph_cannot_read_are_a_400(api: Api) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [call]}]
    response = await api.chat(model="assistant", messages=history)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_messages" and error["param"] == "messages"
    assert api.upstream.requests == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "nope"}, "model_not_found"),
        ({"model": "fusion/nope"}, "model_not_found"),
        ({"model": "assistant", "evofuse": {"profile": "nope"}}, "unknown_profile"),
        ({"model": "fusion/p", "evofuse": {"skill": "no-such-skill"}}, "skill_not_found"),
    ],
)
async def test_unknown_graph_profile_or_skill_is_a_404(
    api: Api, body: dict[str, Any], code: str
) -> None:
    response = await api.chat(**body)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == code
    assert api.upstream.requests == []


async def test_evofuse_object_in_the_body_overrides_the_fusion(api: Api) -> None:
    response = await api.chat(evofuse={"mode": "single", "models": ["m2"]})
    assert response.status_code == 200, response.text
    evofuse = response.json()["evofuse"]
    assert evofuse["mode"] == "single"
    assert [c["model"] for c in evofuse["candidates"]] == ["m2"]
    assert [r.model for r in api.upstream.requests] == ["m2"]
    assert response.json()["choices"][0]["message"]["content"] == "It is 4."

    conflicting = await api.chat(model="fusion/p", evofuse={"profile": "solo"})
    assert conflicting.status_code == 400
    unknown = await api.chat(evofuse={"models": ["m1", "gpt-99"]})
    assert unknown.status_code == 400 and "gpt-99" in unknown.json()["error"]["message"]


async def test_a_graph_runs_with_the_profile_override(api: Api) -> None:
    response = await api.chat(model="assistant", evofuse={"profile": "solo"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["evofuse"]["graph"] == "assistant" and body["evofuse"]["profile"] == "solo"
    assert body["choices"][0]["message"]["content"] == "Solo says four."


async def test_all_members_failing_is_a_502_and_a_failed_run(api: Api) -> None:
    fail = ModelBehavior(kind="error", status=500, message="boom")
    api.upstream.script.models.update({"m1": fail, "m2": fail})
    response = await api.chat()
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "all_members_failed"
    runs = (await api.client.get("/v1/runs", headers=api.auth("acme"))).json()["data"]
    assert [r["status"] for r in runs] == ["failed"]

    streamed = await api.chat(stream=True)
    assert streamed.status_code == 200  # the stream had started: the error arrives inside it
    payloads = sse_payloads(streamed.text)
    assert "[DONE]" not in payloads
    assert sse_chunks(streamed.text)[-1]["error"]["code"] == "all_members_failed"


async def test_the_user_field_is_stored_only_as_a_keyed_hash(api: Api) -> None:
    response = await api.chat(user="alice@example.com")
    run_id = response.json()["evofuse"]["run_id"]
    run = (await api.client.get(f"/v1/runs/{run_id}", headers=api.auth("acme"))).json()
    assert run["user"] == api.services.hasher("acme", "alice@example.com")
    assert run["user"] != "alice@example.com" and "alice" not in str(run)


async def test_models_lists_graphs_and_fusion_profiles(api: Api) -> None:
    response = await api.client.get("/v1/models", headers=api.auth("acme"))
    assert response.status_code == 200
    cards = {m["id"]: m for m in response.json()["data"]}
    assert {"assistant", "code_review", "research_brief", "fusion/p", "fusion/solo"} <= set(cards)
    assert cards["fusion/p"]["members"] == ["m1", "m2"] and cards["fusion/p"]["judge"] == "j"
    assert cards["assistant"]["kind"] == "graph"
    one = await api.client.get("/v1/models/fusion/p", headers=api.auth("acme"))
    assert one.json()["id"] == "fusion/p"
    missing = await api.client.get("/v1/models/fusion/zzz", headers=api.auth("acme"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


async def test_metrics_count_requests_runs_members_and_cost(api: Api) -> None:
    await api.chat()
    await api.chat(model="nope")
    text = (await api.client.get("/metrics")).text
    assert (
        'evofuse_http_requests_total{method="POST",route="/v1/chat/completions",status="200"} 1.0'
        in text
    )
    assert 'route="/v1/chat/completions",status="404"} 1.0' in text
    assert 'evofuse_runs_total{model="fusion/p",status="succeeded"} 1.0' in text
    assert 'evofuse_fusion_member_calls_total{model="m1",status="ok"} 1.0' in text
    assert 'evofuse_fusion_judge_calls_total{model="j",status="ok"} 1.0' in text
    assert 'evofuse_cost_usd_total{model="fusion/p"}' in text
    assert "evofuse_http_request_duration_seconds_bucket" in text


async def test_health_and_openapi_need_no_key(api: Api) -> None:
    health = await api.client.get("/healthz")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    spec = (await api.client.get("/openapi.json")).json()
    for path in (
        "/v1/chat/completions",
        "/v1/models",
        "/v1/feedback",
        "/v1/runs/{run_id}",
        "/v1/skills",
        "/v1/skills/{name}",
        "/v1/skills/{name}/versions",
        "/v1/skills/{name}/rollback",
        "/healthz",
        "/metrics",
    ):
        assert path in spec["paths"], path


async def test_a_history_with_tool_calls_runs_through_a_graph(api: Api) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{}"}}
    history = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is 2 + 2?"}]},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "4"},
        {"role": "user", "content": "So?"},
    ]
    response = await api.chat(model="assistant", messages=history)
    assert response.status_code == 200, response.text
    [first, *_] = [r.body for r in api.upstream.requests if r.model == "m1"]
    assert [m["role"] for m in first["messages"]][-3:] == ["assistant", "tool", "user"]

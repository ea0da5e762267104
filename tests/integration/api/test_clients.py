"""Real clients against `evofuse serve`: the OpenAI SDK (sync, async, streaming) and LangChain."""

from __future__ import annotations

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from tests.integration.api.conftest import LiveServer

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_sync_sdk_gets_a_completion_with_the_evofuse_object(live: LiveServer) -> None:
    client = live.openai("acme")
    completion = client.chat.completions.create(
        model="fusion/p",
        messages=QUESTION,
        seed=1,
        temperature=0.2,
        user="ann",
    )
    assert completion.object == "chat.completion"
    content = completion.choices[0].message.content
    assert content is not None and "Paris" in content
    evofuse = (completion.model_extra or {})["evofuse"]
    assert {c["model"] for c in evofuse["candidates"]} == {"m1", "m2"}
    assert evofuse["judge"]["model"] == "j" and evofuse["cost_usd"] > 0
    assert completion.usage is not None and completion.usage.total_tokens > 0
    run = live.run("acme", evofuse["run_id"])
    assert run["status"] == "succeeded" and run["answer"] == content


def test_streaming_and_plain_answers_match(live: LiveServer) -> None:
    client = live.openai("acme")
    plain = client.chat.completions.create(model="fusion/p", messages=QUESTION, seed=42)
    stream = client.chat.completions.create(
        model="fusion/p",
        messages=QUESTION,
        seed=42,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    last = chunks[-1]
    assert last.usage is not None and last.usage.total_tokens > 0
    evofuse = (last.model_extra or {})["evofuse"]
    assert evofuse["run_id"] != (plain.model_extra or {})["evofuse"]["run_id"]
    assert all("evofuse" not in (c.model_extra or {}) for c in chunks[:-1])
    assert live.run("acme", evofuse["run_id"])["status"] == "succeeded"


async def test_async_sdk_and_async_streaming(live: LiveServer) -> None:
    client = live.async_openai("acme")
    completion = await client.chat.completions.create(
        model="assistant",
        messages=QUESTION,
        extra_body={"evofuse": {"mode": "best-of"}},
    )
    assert (completion.model_extra or {})["evofuse"]["mode"] == "best-of"
    assert completion.choices[0].message.content in {
        "Paris is the capital of France.",
        "The capital of France is Paris.",
    }
    stream = await client.chat.completions.create(
        model="fusion/p",
        messages=QUESTION,
        stream=True,
        extra_body={"evofuse": {"mode": "single", "models": ["m2"]}},
    )
    parts = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in parts) == (
        "The capital of France is Paris."
    )
    assert parts[-1].choices[0].finish_reason == "stop"
    await client.close()


def test_sdk_raises_its_own_error_classes(live: LiveServer) -> None:
    client = live.openai("acme")
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="no-such-graph", messages=QUESTION)
    with pytest.raises(openai.BadRequestError, match="`n` is not supported"):
        client.chat.completions.create(model="fusion/p", messages=QUESTION, n=2)
    bad = openai.OpenAI(base_url=live.v1, api_key="efk-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert {m.id for m in client.models.list()} >= {"assistant", "fusion/p", "fusion/stuck"}


def test_langchain_chat_openai_invoke_and_stream(live: LiveServer) -> None:
    chat = ChatOpenAI(
        base_url=live.v1,
        api_key=live.keys["acme"],
        model="fusion/p",
        seed=5,
        max_retries=0,
    )
    message = chat.invoke("What is the capital of France?")
    assert isinstance(message.content, str) and "Paris" in message.content
    streamed = "".join(
        str(chunk.content) for chunk in chat.stream("What is the capital of France?")
    )
    assert streamed == message.content


def test_curl_style_request(live: LiveServer) -> None:
    """The README's curl example, byte for byte the same request."""
    response = httpx.post(
        f"{live.v1}/chat/completions",
        headers={**live.auth("acme"), "Content-Type": "application/json"},
        content=b'{"model": "fusion/p", "messages": [{"role": "user", "content": "Hi"}]}',
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]


def test_feedback_through_the_sdk_as_the_readme_shows(live: LiveServer) -> None:
    client = live.openai("acme")
    completion = client.chat.completions.create(model="fusion/p", messages=QUESTION)
    evofuse = (completion.model_extra or {})["evofuse"]
    stored = client.post(
        "/feedback",
        cast_to=object,
        body={"run_id": evofuse["run_id"], "score": 1.0, "comment": "spot on"},
    )
    assert isinstance(stored, dict) and stored["run_id"] == evofuse["run_id"]
    assert stored["score"] == 1.0

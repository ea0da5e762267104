"""`evofuse serve` under load, with clients that hang up, at its limits, across tenants.

Each test runs against a server on SQLite and one on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.integration.api.conftest import QUESTION_BODY, LiveServer

pytestmark = pytest.mark.slow


async def test_fifty_concurrent_requests_all_succeed_and_are_recorded(live_db: LiveServer) -> None:
    live_db.key("load")
    client = live_db.async_openai("load", timeout=60)

    async def one(i: int) -> str:
        messages = [{"role": "user", "content": f"Question number {i}?"}]
        if i % 2 == 0:
            completion = await client.chat.completions.create(model="fusion/p", messages=messages)
            return str((completion.model_extra or {})["evofuse"]["run_id"])
        stream = await client.chat.completions.create(
            model="fusion/p", messages=messages, stream=True
        )
        chunks = [chunk async for chunk in stream]  # half of them streamed
        return str((chunks[-1].model_extra or {})["evofuse"]["run_id"])

    run_ids = await asyncio.gather(*(one(i) for i in range(50)))
    await client.close()
    assert len(set(run_ids)) == 50
    listed = httpx.get(
        f"{live_db.v1}/runs", params={"limit": 200}, headers=live_db.auth("load"), timeout=10
    ).json()["data"]
    assert sorted(r["run_id"] for r in listed) == sorted(run_ids)
    assert {r["status"] for r in listed} == {"succeeded"}
    assert all(r["cost_usd"] and r["cost_usd"] > 0 for r in listed)


def _pending(live: LiveServer, before: int) -> bool:
    hung = [r for r in live.upstream.requests[before:] if r.model.startswith("hang")]
    return len(hung) == 2


def _hung_up(live: LiveServer, before: int) -> bool:
    hung = [r for r in live.upstream.requests[before:] if r.model.startswith("hang")]
    return len(hung) == 2 and all(r.outcome == "disconnected" for r in hung)


def test_a_client_that_leaves_a_stream_cancels_the_run(live_db: LiveServer) -> None:
    live_db.key("leaver")
    before = len(live_db.upstream.requests)
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            f"{live_db.v1}/chat/completions",
            json={**QUESTION_BODY, "model": "fusion/stuck", "stream": True},
            headers=live_db.auth("leaver"),
        ) as response,
    ):
        assert response.status_code == 200
        run_id = response.headers["x-evofuse-run-id"]
        lines = response.iter_lines()  # held: a dropped iterator closes the response
        first = next(lines)
        assert first.startswith("data: ") and '"role":"assistant"' in first
        assert live_db.upstream.wait_until(lambda _: _pending(live_db, before), timeout_s=10)
        live_db.wait_for_status("leaver", run_id, "running")
    # Leaving the block closed the connection mid-stream.
    live_db.wait_for_status("leaver", run_id, "cancelled")
    # The step the client left is cancelled too, not failed.
    steps = live_db.run("leaver", run_id)["steps"]
    assert [(s["status"], s["error"]) for s in steps] == [
        ("cancelled", "the caller cancelled the run")
    ]
    assert live_db.upstream.wait_until(lambda _: _hung_up(live_db, before), timeout_s=10)


def test_a_client_that_gives_up_on_a_plain_request_cancels_the_run(live_db: LiveServer) -> None:
    live_db.key("impatient")
    before = len(live_db.upstream.requests)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{live_db.v1}/chat/completions",
            json={**QUESTION_BODY, "model": "fusion/stuck"},
            headers=live_db.auth("impatient"),
            timeout=2.0,
        )
    runs = httpx.get(f"{live_db.v1}/runs", headers=live_db.auth("impatient"), timeout=10)
    [run] = runs.json()["data"]
    live_db.wait_for_status("impatient", run["run_id"], "cancelled")
    steps = live_db.run("impatient", run["run_id"])["steps"]
    assert [s["status"] for s in steps] == ["cancelled"]
    assert live_db.upstream.wait_until(lambda _: _hung_up(live_db, before), timeout_s=10)


def test_rate_limit_and_budget_reach_the_sdk_as_rate_limit_errors(live_db: LiveServer) -> None:
    live_db.key("rpm", "--rpm", "2")
    client = live_db.openai("rpm")
    for _ in range(2):
        client.chat.completions.create(model="fusion/p", messages=QUESTION_BODY["messages"])
    with pytest.raises(openai.RateLimitError, match="2 requests per minute") as caught:
        client.chat.completions.create(model="fusion/p", messages=QUESTION_BODY["messages"])
    assert caught.value.code == "rate_limit_exceeded"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60

    live_db.key("budget", "--daily-budget-usd", "0.0001")
    client = live_db.openai("budget")
    first = client.chat.completions.create(model="fusion/p", messages=QUESTION_BODY["messages"])
    assert (first.model_extra or {})["evofuse"]["cost_usd"] > 0.0001
    with pytest.raises(openai.RateLimitError, match="Daily budget reached") as caught:
        client.chat.completions.create(model="fusion/p", messages=QUESTION_BODY["messages"])
    assert caught.value.code == "daily_budget_exceeded"


def test_tenants_cannot_see_or_rate_each_others_runs(live_db: LiveServer) -> None:
    live_db.key("red")
    live_db.key("blue")
    red = live_db.openai("red").chat.completions.create(
        model="fusion/p", messages=QUESTION_BODY["messages"]
    )
    run_id = (red.model_extra or {})["evofuse"]["run_id"]
    assert live_db.run("red", run_id)["status"] == "succeeded"
    blue = live_db.auth("blue")
    assert httpx.get(f"{live_db.v1}/runs/{run_id}", headers=blue, timeout=10).status_code == 404
    rating = {"run_id": run_id, "score": 0.0, "comment": "sabotage"}
    refused = httpx.post(f"{live_db.v1}/feedback", json=rating, headers=blue, timeout=10)
    assert refused.status_code == 404
    accepted = httpx.post(
        f"{live_db.v1}/feedback",
        json={**rating, "score": 1.0},
        headers=live_db.auth("red"),
        timeout=10,
    )
    assert accepted.status_code == 200 and accepted.json()["score"] == 1.0


def test_nul_bytes_and_lone_surrogates_are_refused_and_never_logged(live_db: LiveServer) -> None:
    """On PostgreSQL such text used to fail the run's INSERT: a 500, a lost run, and the prompt
    printed in the SQL error. Now: a 400 before anything is stored, and a quiet log."""
    live_db.key("hostile")
    headers = {**live_db.auth("hostile"), "Content-Type": "application/json"}
    secret = "confidential-merger-plan"
    text = f"{secret} "
    bodies = [
        json.dumps({"model": "fusion/p", "messages": [{"role": "user", "content": text + "\x00"}]}),
        # json.dumps writes a lone surrogate as the escape `\ud800`: valid JSON, invalid text.
        json.dumps(
            {"model": "fusion/p", "messages": [{"role": "user", "content": text + "\ud800"}]}
        ),
        json.dumps(
            {
                "model": "fusion/p",
                "stream": True,
                "messages": [{"role": "user", "content": text + "\x00"}],
            }
        ),
    ]
    for body in bodies:
        response = httpx.post(
            f"{live_db.v1}/chat/completions", content=body, headers=headers, timeout=30
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_characters"

    # A body over api.max_body_bytes, chunked (no Content-Length): refused while it arrives.
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "fusion/p", "messages": [{"role": "user", "content": "'
        for _ in range(80):
            yield b"x" * 65_536
        yield b'"}]}'

    big = httpx.post(
        f"{live_db.v1}/chat/completions", content=chunks(), headers=headers, timeout=60
    )
    assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"
    listed = httpx.get(f"{live_db.v1}/runs", headers=live_db.auth("hostile"), timeout=10)
    assert listed.status_code == 200 and listed.json()["data"] == []
    log = (live_db.config.parent / "server.log").read_text(encoding="utf-8", errors="replace")
    assert secret not in log

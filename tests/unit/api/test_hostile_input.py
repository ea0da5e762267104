"""Hostile input: unsafe characters, oversized bodies and requests over the caps are refused
with OpenAI-shaped errors before anything is stored or any model is called; /metrics can ask
for a token; CORS is off unless configured."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from evofuse.api import create_app
from evofuse.config.governance import ApiSettings
from evofuse.services import Services
from evofuse.store import Store
from evofuse.store.feedback import FeedbackRow
from evofuse.store.runs import RunRow
from evofuse.testing import UpstreamServer
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)
from tests.unit.api.conftest import Api, api_settings

METRICS_TOKEN = "metrics-token-0123456789"


@pytest.fixture
def caps() -> dict[str, Any]:
    return {}


@pytest.fixture
async def guarded(
    upstream: UpstreamServer, tmp_path: Path, caps: dict[str, Any]
) -> AsyncIterator[Api]:
    settings = api_settings(upstream.base_url, tmp_path)
    settings = settings.model_copy(update={"api": ApiSettings(**caps)})
    services = Services.from_settings(settings)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://evofuse.test") as client:
        api = Api(client, services, upstream)
        api.key("acme")
        yield api
    services.close()


def runs_stored(api: Api) -> int:
    with api.services.store.session() as session:
        return int(session.exec(select(func.count()).select_from(RunRow)).one())


def assert_openai_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    return error


def raw_chat(api: Api, body: bytes, **headers: str) -> Any:
    return api.client.post(
        "/v1/chat/completions",
        content=body,
        headers={**api.auth("acme"), "Content-Type": "application/json", **headers},
    )


# -- characters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("secret prompt \x00 tail", "U+0000 (a NUL byte)"),
        ("secret prompt \x1b[31m red", "U+001B (a control character)"),
        ("secret prompt \x85 next line", "U+0085 (a control character)"),
    ],
)
async def test_control_characters_are_refused_before_anything_runs(
    guarded: Api, text: str, described: str
) -> None:
    response = await guarded.chat(messages=[{"role": "user", "content": text}])
    error = assert_openai_error(response, 400, "invalid_characters")
    assert described in error["message"] and "character 14" in error["message"]
    assert error["param"] == "messages[0].content"
    assert "secret prompt" not in error["message"]  # the text itself is never echoed
    assert runs_stored(guarded) == 0
    assert guarded.upstream.requests == []


async def test_a_lone_surrogate_is_refused(guarded: Api) -> None:
    # Valid JSON (an escaped UTF-16 half), but no valid Unicode: PostgreSQL cannot store it.
    body = b'{"model": "fusion/p", "messages": [{"role": "user", "content": "hi \\ud800 there"}]}'
    error = assert_openai_error(await raw_chat(guarded, body), 400, "invalid_characters")
    assert "U+D800 (a lone UTF-16 surrogate" in error["message"]
    assert runs_stored(guarded) == 0 and guarded.upstream.requests == []


async def test_unsafe_characters_anywhere_in_the_body_are_refused(guarded: Api) -> None:
    response = await guarded.chat(user="bob\x00")
    assert assert_openai_error(response, 400, "invalid_characters")["param"] == "user"
    parts = [{"type": "text", "text": "ok"}, {"type": "text", "text": "\x07"}]
    response = await guarded.chat(messages=[{"role": "user", "content": parts}])
    error = assert_openai_error(response, 400, "invalid_characters")
    assert error["param"] == "messages[0].content[1].text"
    assert runs_stored(guarded) == 0


async def test_bytes_that_are_not_utf8_are_a_400(guarded: Api) -> None:
    body = b'{"model": "fusion/p", "messages": [{"role": "user", "content": "caf\xe9"}]}'
    response = await raw_chat(guarded, body)
    assert response.status_code == 400, response.text
    assert "error" in response.json()
    assert runs_stored(guarded) == 0


async def test_tab_newline_and_carriage_return_are_fine(guarded: Api) -> None:
    text = "Line one\tcolumn\r\nLine two: café, 東京, emoji 🙂"
    response = await guarded.chat(messages=[{"role": "user", "content": text}])
    assert response.status_code == 200, response.text
    assert runs_stored(guarded) == 1


async def test_feedback_with_a_nul_byte_is_refused(guarded: Api) -> None:
    run_id = (await guarded.chat()).json()["evofuse"]["run_id"]
    response = await guarded.client.post(
        "/v1/feedback",
        json={"run_id": run_id, "score": 0.5, "comment": "bad\x00answer"},
        headers=guarded.auth("acme"),
    )
    assert assert_openai_error(response, 400, "invalid_characters")["param"] == "comment"
    with guarded.services.store.session() as session:
        assert session.exec(select(FeedbackRow)).all() == []


# -- caps ------------------------------------------------------------------------------------


@pytest.mark.parametrize("caps", [{"max_body_bytes": 2048}])
async def test_a_body_over_max_body_bytes_is_a_413(guarded: Api) -> None:
    big = json.dumps(
        {"model": "fusion/p", "messages": [{"role": "user", "content": "x" * 4096}]}
    ).encode()
    error = assert_openai_error(await raw_chat(guarded, big), 413, "request_too_large")
    assert "api.max_body_bytes" in error["message"]
    document = (await guarded.client.get("/openapi.json")).json()
    assert "413" in document["paths"]["/v1/chat/completions"]["post"]["responses"]

    async def chunked() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    # No Content-Length: the body is counted as it arrives.
    response = await guarded.client.post(
        "/v1/chat/completions",
        content=chunked(),
        headers={**guarded.auth("acme"), "Content-Type": "application/json"},
    )
    assert_openai_error(response, 413, "request_too_large")
    assert runs_stored(guarded) == 0 and guarded.upstream.requests == []
    # A body under the cap still works, chunked or not.
    small = json.dumps(
        {"model": "fusion/p", "messages": [{"role": "user", "content": "hi"}]}
    ).encode()

    async def small_chunks() -> AsyncIterator[bytes]:
        yield small[:10]
        yield small[10:]

    response = await guarded.client.post(
        "/v1/chat/completions",
        content=small_chunks(),
        headers={**guarded.auth("acme"), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "caps", [{"max_messages": 2, "max_message_chars": 100, "max_prompt_tokens": 40}]
)
async def test_messages_characters_and_tokens_are_capped(guarded: Api) -> None:
    many = [{"role": "user", "content": "hi"}] * 3
    error = assert_openai_error(await guarded.chat(messages=many), 400, "too_many_messages")
    assert "api.max_messages" in error["message"]

    long = [{"role": "user", "content": "y" * 101}]
    error = assert_openai_error(await guarded.chat(messages=long), 400, "message_too_long")
    assert error["param"] == "messages[0].content"

    # Two messages within the per-message cap, together over the token estimate (4 chars each).
    pair = [{"role": "system", "content": "s" * 90}, {"role": "user", "content": "u" * 90}]
    error = assert_openai_error(await guarded.chat(messages=pair), 400, "context_length_exceeded")
    assert "about 45 tokens" in error["message"]
    assert runs_stored(guarded) == 0 and guarded.upstream.requests == []
    assert (await guarded.chat()).status_code == 200


# -- /metrics and CORS -----------------------------------------------------------------------


@pytest.mark.parametrize("caps", [{"metrics_token": METRICS_TOKEN}])
async def test_metrics_asks_for_its_token_when_one_is_set(guarded: Api) -> None:
    response = await guarded.client.get("/metrics")
    assert response.status_code == 401 and response.json()["error"]["code"] == (
        "invalid_metrics_token"
    )
    wrong = await guarded.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    # An API key is not the metrics token.
    key = await guarded.client.get("/metrics", headers=guarded.auth("acme"))
    assert key.status_code == 401
    ok = await guarded.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert ok.status_code == 200 and "evofuse_http_requests" in ok.text


async def test_metrics_and_cors_defaults(guarded: Api) -> None:
    assert (await guarded.client.get("/metrics")).status_code == 200
    preflight = await guarded.client.options(
        "/v1/chat/completions",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    response = await guarded.client.get("/healthz", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("caps", [{"cors_origins": ["https://app.example"]}])
async def test_cors_allows_the_configured_origins_only(guarded: Api) -> None:
    preflight = await guarded.client.options(
        "/v1/chat/completions",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    other = await guarded.client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


# -- logs ------------------------------------------------------------------------------------


def test_sql_errors_never_carry_the_values(
    database_url: str,  # noqa: F811
) -> None:
    """A failing statement's message names the SQL, not the prompt text it was writing."""
    store = Store(database_url)
    try:
        with store.session() as session:
            session.add(RunRow(id="r1", graph="g", task="the user's secret task"))
        with pytest.raises(IntegrityError) as caught, store.session() as session:
            session.add(RunRow(id="r1", graph="g", task="the user's secret task"))
        assert "secret" not in str(caught.value)
        assert "hidden" in str(caught.value)  # SQLAlchemy's placeholder for the parameters
    finally:
        store.close()


# -- the CLI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["a task with a NUL \x00 byte", "bad \udcff bytes", "x" * 300])
def test_evofuse_run_refuses_the_same_text_before_recording_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], task: str
) -> None:
    from tests.unit.api.test_cli import cli, write_config

    config = write_config(tmp_path)
    with config.open("a") as handle:
        handle.write("api: {max_message_chars: 200}\n")
    code, out, err = cli(capsys, "run", "assistant", task, "--config", str(config))
    assert code == 2 and out == ""
    assert "The task" in err and "a task with" not in err
    assert not (tmp_path / "e.db").exists()  # refused before the store was even opened

"""The upstream's ASGI app: OpenAI Chat Completions (streaming or not) answered by the script."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive

from evofuse.testing.replies import answer_text, usage
from evofuse.testing.script import ModelBehavior, RecordedRequest, RequestLog, UpstreamScript

_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def create_app(script: UpstreamScript, log: RequestLog | None = None) -> Starlette:
    """The upstream as an ASGI app; requests are appended to `log` (or `app.state.log`)."""
    upstream = _Upstream(script, log if log is not None else RequestLog())
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", upstream.chat, methods=["POST"]),
            Route("/chat/completions", upstream.chat, methods=["POST"]),
            Route("/v1/models", upstream.models, methods=["GET"]),
            Route("/_upstream/requests", upstream.recorded, methods=["GET"]),
        ]
    )
    app.state.log = upstream.log
    return app


class _Upstream:
    def __init__(self, script: UpstreamScript, log: RequestLog) -> None:
        self.script = script
        self.log = log

    async def models(self, _request: Request) -> Response:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "evofuse-testing"}
            for m in self.script.models
        ]
        return _json({"object": "list", "data": data})

    async def recorded(self, _request: Request) -> Response:
        return _json([asdict(r) for r in self.log.entries])

    async def chat(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "The request body is not valid JSON.", "invalid_request_error", None)
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return _error(400, "`model` is required.", "invalid_request_error", "missing_model")
        model: str = body["model"]
        behavior = self.script.behavior(model)
        if behavior is None:
            return _error(
                404,
                f"The model `{model}` does not exist.",
                "invalid_request_error",
                "model_not_found",
            )
        record = self.log.start(model, body)
        delay = None if behavior.kind == "hang" else behavior.latency_s(record.call)
        if not await _wait_unless_disconnected(request.receive, delay):
            record.finish("disconnected")
            return Response(status_code=499)  # nobody reads it; ends the handler cleanly
        response = self._respond(behavior, body, request, record)
        if not isinstance(response, StreamingResponse):
            record.finish("answered")
        return response

    def _respond(
        self,
        behavior: ModelBehavior,
        body: dict[str, Any],
        request: Request,
        record: RecordedRequest,
    ) -> Response:
        if behavior.kind == "error":
            message = behavior.message.replace("{api_key}", _bearer(request))
            error_type = behavior.error_type or _error_type(behavior.status)
            return _error(behavior.status, message, error_type, _ERROR_CODES.get(behavior.status))
        if behavior.kind == "garbage":
            media = "text/event-stream" if record.stream else "application/json"
            raw = behavior.raw or "<html><body>upstream garbage, not JSON {{{</body></html>\n"
            return Response(raw.encode(), media_type=media)
        text = answer_text(behavior, body, record.model)
        counts = usage(body, text)
        if not record.stream:
            if behavior.kind == "truncated":
                whole = json.dumps(_completion(record, text, counts)).encode()
                return Response(whole[: len(whole) // 2], media_type="application/json")
            return _json(_completion(record, text, counts))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            _chunks(record, text, counts if include_usage else None, behavior),
            media_type="text/event-stream",
        )


async def _wait_unless_disconnected(receive: Receive, seconds: float | None) -> bool:
    """Sleep `seconds` (forever if None); return False if the client went away first."""
    if seconds is not None and seconds <= 0:
        return True

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
        return not done
    finally:
        watcher.cancel()


def _completion(record: RecordedRequest, text: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-upstream-{record.seq}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": record.model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


async def _chunks(
    record: RecordedRequest, text: str, usage: dict[str, int] | None, behavior: ModelBehavior
) -> AsyncIterator[bytes]:
    created = int(time.time())
    base: dict[str, Any] = {
        "id": f"chatcmpl-upstream-{record.seq}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": record.model,
        "system_fingerprint": None,
    }
    extra = {"usage": None} if usage is not None else {}

    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse({**base, "choices": [choice], **extra})

    try:
        yield event({"role": "assistant", "content": ""})
        step = behavior.chunk_chars
        for i in range(0, len(text), step):
            if i and behavior.chunk_delay_ms:
                await asyncio.sleep(behavior.chunk_delay_ms / 1000)
            if behavior.kind == "truncated" and i >= len(text) // 2:
                record.finish("answered")
                return  # the stream just ends: no finish_reason, no [DONE]
            yield event({"content": text[i : i + step]})
        yield event({}, "stop")
        if usage is not None:
            yield _sse({**base, "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"
    except BaseException:
        record.finish("disconnected")
        raise
    record.finish("answered")


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ").strip()


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload).encode(), media_type="application/json")


def _error_type(status: int) -> str:
    """OpenAI's `error.type` for a status: its 429s say "requests", other 4xx are the caller's."""
    if status == 429:
        return "requests"
    return "invalid_request_error" if status < 500 else "server_error"


def _error(status: int, message: str, error_type: str, code: str | None) -> Response:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return Response(json.dumps(body).encode(), status_code=status, media_type="application/json")

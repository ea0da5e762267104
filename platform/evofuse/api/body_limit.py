"""`api.max_body_bytes`: a body over the cap is refused with 413 before anything parses it.

A declared Content-Length over the cap is refused at once, without reading the body. A chunked
body (no Content-Length) is counted as it arrives and refused as soon as it passes the cap. A
body within the cap is handed on whole; after it, `receive` is the server's own again, so the
chat route still learns when the client disconnects.

Before the 413 is finished, the rest of the body is read and dropped (up to `_DRAIN_BYTES` and
`_DRAIN_S`): most clients (curl, httpx, requests) send the whole body before they read the
answer, and a server that closed the connection on them would leave them a "connection reset"
instead of the 413 that says what to do.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evofuse.api.errors import error_body

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DRAIN_BYTES = 16_000_000
_DRAIN_S = 5.0


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, receive, declared)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before the body ended
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                more = bool(message.get("more_body", False))
                await self._refuse(send, receive if more else None, None)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, send: Send, receive: Receive | None, declared: int | None) -> None:
        size = f"{declared} bytes" if declared is not None else "more than that"
        body = error_body(
            f"The request body is too large: {size}; the limit is {self.max_bytes} bytes "
            "(api.max_body_bytes). Send a shorter conversation.",
            "invalid_request_error",
            "request_too_large",
        )
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        if receive is not None:
            await _drain(receive)
        await send({"type": "http.response.body", "body": payload})


async def _drain(receive: Receive) -> None:
    """Read and drop what is left of the body, within bounds (a client cannot hold us)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _DRAIN_S
    drained = 0
    while drained < _DRAIN_BYTES:
        left = deadline - loop.time()
        if left <= 0:
            return
        try:
            message = await asyncio.wait_for(receive(), left)
        except TimeoutError:
            return
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed

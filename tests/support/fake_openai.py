"""OpenAI-shaped responses for respx routes: the model is faked at the HTTP boundary."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


def completion_body(
    content: str, model: str = "gpt-4o-mini", prompt_tokens: int = 11, completion_tokens: int = 7
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def sse_body(content: str, model: str = "gpt-4o-mini", pieces: int = 5, usage: bool = True) -> str:
    step = max(1, len(content) // pieces)
    chunks = [content[i : i + step] for i in range(0, len(content), step)]
    events = []
    for i, piece in enumerate(chunks):
        delta: dict[str, Any] = {"content": piece}
        if i == 0:
            delta["role"] = "assistant"
        events.append(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
        )
    events.append(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    if usage:
        events.append(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [],
                "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
            }
        )
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def labels_in(request: httpx.Request) -> list[str]:
    """The candidate labels ([A], [B], …) a judge request shows."""
    body = json.loads(request.content)
    return re.findall(r"^\[([A-Z])\]$", body["messages"][-1]["content"], flags=re.MULTILINE)


@dataclass
class Behaviour:
    """What one fake model does when called."""

    content: str | Callable[[httpx.Request], str] = "an answer"
    delay_s: float = 0.0
    status: int = 200
    raw: str | None = None  # a raw body instead of JSON (malformed responses)
    error_message: str = "upstream failure"
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append(body)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.raw is not None:
            return httpx.Response(
                self.status, text=self.raw, headers={"content-type": "application/json"}
            )
        if self.status != 200:
            return httpx.Response(
                self.status,
                json={
                    "error": {"message": self.error_message, "type": "server_error", "code": None}
                },
            )
        content = self.content(request) if callable(self.content) else self.content
        if body.get("stream"):
            return httpx.Response(
                200, text=sse_body(content), headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=completion_body(content))


def verdict(
    winner: str = "first", answer: str | None = None, rationale: str = "clearest"
) -> Callable[[httpx.Request], str]:
    """A judge that picks a label ('first', 'last' or a letter) and scores every candidate."""

    def reply(request: httpx.Request) -> str:
        labels = labels_in(request)
        pick = labels[0] if winner == "first" else labels[-1] if winner == "last" else winner
        out: dict[str, Any] = {
            "scores": [{"candidate": lab, "score": 9 if lab == pick else 5} for lab in labels],
            "winner": pick,
            "rationale": rationale,
        }
        if answer is not None:
            out["answer"] = answer
        return json.dumps(out)

    return reply

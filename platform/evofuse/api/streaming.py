"""OpenAI's `chat.completion.chunk` stream: role first, content deltas, finish, `[DONE]`.

The `evofuse` object rides on the last chunk before `data: [DONE]`: the usage chunk when the
client asked for usage (`stream_options.include_usage`), else the chunk with `finish_reason`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DONE = "[DONE]"


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Chunks:
    """Serialized chunks of one completion, all sharing its id, model and creation time."""

    id: str
    model: str
    created: int
    include_usage: bool

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> str:
        payload: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:
            payload["usage"] = None  # OpenAI: null on every chunk but the usage chunk
        payload.update(extra)
        return _dumps(payload)

    def _delta(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._chunk([choice], **extra)

    def role(self) -> str:
        return self._delta({"role": "assistant", "content": ""})

    def content(self, text: str) -> str:
        return self._delta({"content": text})

    def reset(self, reason: str) -> str:
        """The judge broke off: the text so far is void; the fallback's answer follows.

        OpenAI's format cannot take text back, so this chunk tells EvoFuse-aware clients to
        discard what they have; the `evofuse` object at the end is flagged `degraded`.
        """
        return self._delta({"content": ""}, evofuse={"event": "reset", "reason": reason})

    def finish(self, evofuse: dict[str, Any], usage: dict[str, int]) -> list[str]:
        """The closing chunks, `evofuse` on the last one (`[DONE]` follows)."""
        if not self.include_usage:
            return [self._delta({}, "stop", evofuse=evofuse)]
        return [self._delta({}, "stop"), self._chunk([], usage=usage, evofuse=evofuse)]


def error_event(body: dict[str, Any]) -> str:
    """A mid-stream error in OpenAI's shape; OpenAI's SDKs raise it as an APIError."""
    return _dumps(body)

"""The script of the upstream: a behavior per model name, and the log of what it received."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# truncated: the answer breaks off mid-way: a JSON body cut in half, or a stream that stops
# after half its chunks without a finish_reason or [DONE] (a connection the provider dropped).
Kind = Literal["answer", "error", "garbage", "hang", "empty", "judge", "truncated"]
Outcome = Literal["pending", "answered", "disconnected"]

DEFAULT_API_KEY = "sk-upstream-test-key"


class ModelBehavior(BaseModel):
    """How the upstream answers one model name."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind = "answer"
    # Wait before answering. A list is used in order, one value per request to this model,
    # and starts over when it runs out.
    latency_ms: float | list[float] = Field(default=0.0)
    content: str | None = None  # answer: the text (default "Answer from <model>.")
    # answer: compute the text from the request body instead (e.g. answer by the prompt). Only
    # for in-process servers: a function cannot travel in the JSON script of the process form.
    respond: Callable[[dict[str, Any]], str] | None = Field(default=None, exclude=True)
    chunk_chars: int = Field(default=8, ge=1)  # streaming: characters per content chunk
    chunk_delay_ms: float = Field(default=0.0, ge=0)  # streaming: pause between chunks
    # error: the HTTP status and an OpenAI-shaped body; `{api_key}` in the message is replaced
    # by the caller's key, the way some providers echo it, to test redaction.
    status: int = Field(default=500, ge=400, le=599)
    message: str = "scripted upstream failure"
    error_type: str | None = None
    # judge: the winner is `winner` (a label), else the first candidate whose text contains
    # `prefer`, else the first label. `answer` forces or suppresses the `answer` key (default:
    # included when the response_format schema or the system prompt asks for "answer").
    winner: str | None = None
    prefer: str | None = None
    answer: bool | None = None
    answer_text: str | None = None  # default: "Fused: " + the winner's text
    raw: str | None = None  # garbage: the body to send (default: an HTML page, not JSON)
    invalid_json: bool = False  # reply with prose instead of a verdict, to test fallbacks

    def latency_s(self, call: int) -> float:
        if isinstance(self.latency_ms, list):
            if not self.latency_ms:
                return 0.0
            return self.latency_ms[call % len(self.latency_ms)] / 1000
        return self.latency_ms / 1000


JUDGE = ModelBehavior(kind="judge")


class UpstreamScript(BaseModel):
    """Behaviors by model name; `default` answers any other name (`None`: 404 model_not_found)."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelBehavior] = Field(default_factory=dict)
    default: ModelBehavior | None = Field(default_factory=ModelBehavior)

    def behavior(self, model: str) -> ModelBehavior | None:
        return self.models.get(model, self.default)


@dataclass
class RecordedRequest:
    """One chat completion request as the upstream saw it."""

    seq: int  # order of arrival over all models
    model: str
    call: int  # order of arrival for this model (indexes a latency list)
    stream: bool
    body: dict[str, Any]
    started: float  # time.monotonic() at arrival
    ended: float | None = None
    outcome: Outcome = "pending"

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages")
        return messages if isinstance(messages, list) else []

    def finish(self, outcome: Outcome) -> None:
        self.ended = time.monotonic()
        self.outcome = outcome


@dataclass
class RequestLog:
    """Every request received; appended to by the server, read by tests (any thread)."""

    entries: list[RecordedRequest] = field(default_factory=list)
    _per_model: dict[str, itertools.count[int]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def start(self, model: str, body: dict[str, Any]) -> RecordedRequest:
        call = next(self._per_model.setdefault(model, itertools.count()))
        record = RecordedRequest(
            seq=next(self._seq),
            model=model,
            call=call,
            stream=bool(body.get("stream")),
            body=body,
            started=time.monotonic(),
        )
        self.entries.append(record)
        return record


def model_entry(
    name: str, base_url: str, *, api_key: str = DEFAULT_API_KEY, **params: Any
) -> dict[str, Any]:
    """A LiteLLM Router `model_list` entry that sends `name` to the upstream at `base_url`."""
    return {
        "model_name": name,
        "litellm_params": {
            "model": f"openai/{name}",
            "api_base": base_url,
            "api_key": api_key,
            **params,
        },
    }


def as_script(script: UpstreamScript | Mapping[str, Any]) -> UpstreamScript:
    return script if isinstance(script, UpstreamScript) else UpstreamScript.model_validate(script)

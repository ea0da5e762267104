"""A span for every model call, whatever made it: pool members, judges, the Evolver.

`TracingGateway` wraps any `ModelGateway`; the role of a call (member, judge) comes from
`call_role`, set by the code that knows it, so the gateway needs no extra argument.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from evofuse.errors import LLMCallError
from evofuse.llm.gateway import DEFAULT_SETTINGS, CallResult, Message
from evofuse.llm.protocol import ModelGateway
from evofuse.options import ModelSettings
from evofuse.telemetry.tracing import tracer

_role: ContextVar[str] = ContextVar("evofuse_call_role", default="call")


@contextmanager
def call_role(role: str) -> Iterator[None]:
    """Calls made inside the block (and tasks started from it) are tagged with `role`."""
    token = _role.set(role)
    try:
        yield
    finally:
        _role.reset(token)


class TracingGateway:
    """A `ModelGateway` that records each call as a client span, then delegates."""

    def __init__(self, inner: ModelGateway, *, include_content: bool = False) -> None:
        self.inner = inner
        self.include_content = include_content

    # -- pass-through ---------------------------------------------------------------------------

    @property
    def model_names(self) -> list[str]:
        return self.inner.model_names

    @property
    def is_warm(self) -> bool:
        return self.inner.is_warm

    def warm_up(self) -> None:
        self.inner.warm_up()

    def start_warm_up(self) -> object:
        return self.inner.start_warm_up()

    def cost(self, model_name: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        return self.inner.cost(model_name, prompt_tokens, completion_tokens)

    def count_tokens(self, model_name: str, messages: Sequence[Message]) -> int:
        return self.inner.count_tokens(model_name, messages)

    def __getattr__(self, name: str) -> Any:
        # Anything else a concrete gateway offers (the scripted one's request log, say).
        return getattr(self.inner, name)

    # -- traced calls ---------------------------------------------------------------------------

    async def complete(
        self,
        model_name: str,
        messages: Sequence[Message],
        *,
        timeout_s: float,
        settings: ModelSettings = DEFAULT_SETTINGS,
    ) -> CallResult:
        with self._span(model_name, messages, settings) as call:
            try:
                result = await self.inner.complete(
                    model_name, messages, timeout_s=timeout_s, settings=settings
                )
            except BaseException as exc:
                call.failed(exc)
                raise
            call.finished(result, include_content=self.include_content)
            return result

    async def stream(
        self,
        model_name: str,
        messages: Sequence[Message],
        *,
        timeout_s: float,
        settings: ModelSettings = DEFAULT_SETTINGS,
    ) -> AsyncIterator[str | CallResult]:
        inner = self.inner.stream(model_name, messages, timeout_s=timeout_s, settings=settings)
        with self._span(model_name, messages, settings) as call:
            try:
                async for item in inner:
                    if isinstance(item, CallResult):
                        call.finished(item, include_content=self.include_content)
                    yield item
            except BaseException as exc:
                call.failed(exc)
                raise
            finally:
                # Closed with us: a consumer that stops reading ends the upstream call now,
                # not when the garbage collector gets to the inner stream.
                close = getattr(inner, "aclose", None)
                if close is not None:
                    await close()

    @contextmanager
    def _span(
        self, model_name: str, messages: Sequence[Message], settings: ModelSettings
    ) -> Iterator[_CallSpan]:
        role = _role.get()
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model_name,
            "evofuse.role": role,
        }
        for key in ("temperature", "max_tokens", "top_p"):
            value = getattr(settings, key)
            if value is not None:
                attributes[f"gen_ai.request.{key}"] = value
        if self.include_content:
            attributes["evofuse.prompt"] = json.dumps(list(messages), default=str)
        # Not made current: a call has no children, and a span made current inside a stream
        # would leak into the consumer's context between chunks.
        span = tracer().start_span(
            f"evofuse.{role} {model_name}", kind=SpanKind.CLIENT, attributes=attributes
        )
        call = _CallSpan(span, time.perf_counter())
        try:
            yield call
        finally:
            call.end()


@dataclass
class _CallSpan:
    """One call's span and what has been said of it so far (a span's attributes are
    write-only in the API: the SDK's may be read back, a no-op span's may not)."""

    span: Span
    started: float
    status: str | None = None
    latency_ms: float | None = None

    def finished(self, result: CallResult, *, include_content: bool) -> None:
        self.status, self.latency_ms = "ok", result.latency_ms
        if not self.span.is_recording():
            return
        self.span.set_attributes(
            {
                "evofuse.status": "ok",
                "gen_ai.response.model": result.model,
                "gen_ai.usage.input_tokens": result.prompt_tokens,
                "gen_ai.usage.output_tokens": result.completion_tokens,
                "evofuse.latency_ms": result.latency_ms,
            }
        )
        if result.cost_usd is not None:
            self.span.set_attribute("evofuse.cost_usd", result.cost_usd)
        if result.finish_reason:
            self.span.set_attribute("gen_ai.response.finish_reasons", [result.finish_reason])
        if include_content:
            self.span.set_attribute("evofuse.completion", result.content)
        self.span.set_status(Status(StatusCode.OK))

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, LLMCallError):
            # The message is already redacted (no keys); the status says error or timeout.
            self.status, self.latency_ms = exc.status, exc.latency_ms
            self.span.set_attributes(
                {"evofuse.status": exc.status, "evofuse.latency_ms": exc.latency_ms}
            )
            self.span.set_status(Status(StatusCode.ERROR, exc.message[:500]))
        elif isinstance(exc, GeneratorExit):
            # The consumer stopped reading a stream it no longer needs (e.g. the answer is
            # final): an answer already recorded keeps its status.
            if self.status is None:
                self.status = "cancelled"
                self.span.set_attribute("evofuse.status", "cancelled")
        else:
            # Cancelled by quorum, deadline or a client that went away; or a bug, shown as such.
            cancelled = type(exc).__name__ == "CancelledError"
            self.status = "cancelled" if cancelled else "error"
            self.span.set_attribute("evofuse.status", self.status)
            if not cancelled:
                self.span.set_status(Status(StatusCode.ERROR, type(exc).__name__))

    def end(self) -> None:
        if self.latency_ms is None:
            self.span.set_attribute(
                "evofuse.latency_ms", (time.perf_counter() - self.started) * 1000
            )
        self.span.end()

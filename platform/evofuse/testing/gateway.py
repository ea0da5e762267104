"""`ScriptedGateway`: the models of an `UpstreamScript`, answered in-process (no HTTP, no LiteLLM).

The same script drives the HTTP upstream (`UpstreamServer`, `python -m evofuse.testing.upstream`)
when a test must cross the network; this gateway is for tests that only need the fusion logic,
like pydantic-ai's `TestModel`/`FunctionModel`::

    script = UpstreamScript(models={
        "fast": ModelBehavior(content="Paris."),
        "down": ModelBehavior(kind="error", status=503),
        "judge": JUDGE,
    })
    gateway = ScriptedGateway(script)
    engine = FusionEngine(settings, gateway=gateway)   # profiles name "fast", "down", "judge"
    result = await engine.run([{"role": "user", "content": "Capital of France?"}])
    assert gateway.requests_for("judge")

Behaviors map to what the real gateway reports: `error`, `garbage` and `truncated` are failed
calls (`LLMCallError` with status `error`), `hang` waits until the call's timeout (`timeout`),
`empty` is an empty answer (a failure, as with a real provider). `respond=` computes an answer
from the request body, e.g. `judge_reply(winner="last")` for a judge.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from evofuse.errors import CallStatus, LLMCallError
from evofuse.llm import CallResult, Message
from evofuse.llm.gateway import DEFAULT_SETTINGS
from evofuse.options import ModelSettings
from evofuse.testing.replies import answer_text, usage
from evofuse.testing.script import (
    ModelBehavior,
    RecordedRequest,
    RequestLog,
    UpstreamScript,
    as_script,
)


class ScriptedGateway:
    """A `ModelGateway` (see `evofuse.llm.protocol`) answering from a script, in-process."""

    def __init__(
        self,
        script: UpstreamScript | Mapping[str, Any],
        *,
        prices: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        """`prices`: USD per (input, output) token by model; other models cost None (unknown)."""
        self.script = as_script(script)
        self.prices = dict(prices or {})
        self.log = RequestLog()

    # -- what the engine asks besides calls ------------------------------------------------

    @property
    def model_names(self) -> list[str]:
        return list(self.script.models)

    @property
    def is_warm(self) -> bool:
        return True  # nothing to import or build

    def warm_up(self) -> None:
        return None

    def start_warm_up(self) -> None:
        return None

    def cost(self, model_name: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.prices.get(model_name)
        if price is None:
            return None
        return prompt_tokens * price[0] + completion_tokens * price[1]

    def count_tokens(self, model_name: str, messages: Sequence[Message]) -> int:  # noqa: ARG002
        """Four characters a token, like the HTTP upstream's usage counts."""
        return usage({"messages": list(messages)}, "")["prompt_tokens"]

    # -- what tests read ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every call so far, in order of arrival."""
        return list(self.log.entries)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.log.entries if r.model == model]

    # -- calls -------------------------------------------------------------------------------

    async def complete(
        self,
        model_name: str,
        messages: Sequence[Message],
        *,
        timeout_s: float,
        settings: ModelSettings = DEFAULT_SETTINGS,
    ) -> CallResult:
        result: CallResult | None = None
        async for item in self._call(model_name, messages, timeout_s, settings, stream=False):
            if isinstance(item, CallResult):
                result = item
        assert result is not None
        return result

    async def stream(
        self,
        model_name: str,
        messages: Sequence[Message],
        *,
        timeout_s: float,
        settings: ModelSettings = DEFAULT_SETTINGS,
    ) -> AsyncIterator[str | CallResult]:
        async for item in self._call(model_name, messages, timeout_s, settings, stream=True):
            yield item

    async def _call(
        self,
        model: str,
        messages: Sequence[Message],
        timeout_s: float,
        settings: ModelSettings,
        *,
        stream: bool,
    ) -> AsyncIterator[str | CallResult]:
        started = time.perf_counter()
        behavior = self.script.behavior(model)
        # The request body an OpenAI-compatible upstream would get (what tests assert on).
        body = {
            "model": model,
            "messages": list(messages),
            "stream": stream,
            **settings.call_kwargs(),
        }
        record = self.log.start(model, body)

        def failure(status: CallStatus, message: str) -> LLMCallError:
            record.finish("answered")
            return LLMCallError(model, status, message, (time.perf_counter() - started) * 1000)

        if behavior is None:
            raise failure("error", f"HTTP 404: the model `{model}` does not exist")
        try:
            async with asyncio.timeout(timeout_s):
                delay = None if behavior.kind == "hang" else behavior.latency_s(record.call)
                await (asyncio.Event().wait() if delay is None else asyncio.sleep(delay))
                parts: list[str] = []
                text = _text_or_failure(behavior, body, model)
                if isinstance(text, str) and stream:
                    for i in range(0, len(text), behavior.chunk_chars):
                        if i and behavior.chunk_delay_ms:
                            await asyncio.sleep(behavior.chunk_delay_ms / 1000)
                        parts.append(text[i : i + behavior.chunk_chars])
                        yield parts[-1]
        except TimeoutError:
            raise failure("timeout", f"no answer within {timeout_s:g} s") from None
        except asyncio.CancelledError:
            record.finish("disconnected")
            raise
        if not isinstance(text, str):
            raise failure("error", text[0])
        if not text.strip():
            raise failure("error", "the provider returned an empty answer")
        record.finish("answered")
        counts = usage(body, text)
        yield CallResult(
            model=model,
            content=text,
            prompt_tokens=counts["prompt_tokens"],
            completion_tokens=counts["completion_tokens"],
            cost_usd=self.cost(model, counts["prompt_tokens"], counts["completion_tokens"]),
            latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason="stop",
        )


def _text_or_failure(behavior: ModelBehavior, body: dict[str, Any], model: str) -> str | tuple[str]:
    """The answer, or (why the call failed,) as the real gateway would word it."""
    if behavior.kind == "error":
        return (f"HTTP {behavior.status}: {behavior.message}",)
    if behavior.kind == "garbage":
        return ("malformed provider response: the body is not JSON",)
    if behavior.kind == "truncated":
        return ("malformed provider response: the answer broke off",)
    return answer_text(behavior, body, model)

"""The one door to the models: LiteLLM over `model_list`, plus accounting.

A `model_name` with one deployment is called through `litellm.acompletion` with that
deployment's `litellm_params`; only names that need the Router's work (several deployments to
balance, retries, `rpm`/`tpm` limits, `model_info`) go through a `litellm.Router`. The Router
adds ~1.5 ms of CPU to every call (benchmarks/cpu_profile.py), which a one-deployment name
gains nothing from, and with no Router-backed name the Router is never built.

litellm is imported on first use, never at import time: it costs ~5 s and ~200 MB, and
`evofuse --help` must stay instant. Commands that will call a model start that import in a
background thread as they begin (`preload_in_background`), and every call waits for the
gateway to be warm (`Gateway.ready`) before its timer starts: no model call is ever charged
for loading the library.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from evofuse.errors import CallStatus, LLMCallError
from evofuse.llm.redact import Redactor
from evofuse.options import ModelSettings

DEFAULT_SETTINGS = ModelSettings()

log = logging.getLogger("evofuse.llm")

Message = dict[str, Any]


def _import_litellm() -> Any:
    # Offline by default: litellm otherwise fetches its price map from the internet at import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def preload_in_background() -> threading.Thread:
    """Start importing litellm in a daemon thread, so that it overlaps the caller's other
    start-up work (config, database, skill index). A later import waits for this one (Python's
    import lock) instead of starting over."""
    thread = threading.Thread(target=_import_litellm, name="evofuse-litellm-import", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class CallResult:
    """One finished model call and what it cost."""

    model: str
    content: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None: no price known for this model (never a made-up 0)
    latency_ms: float
    finish_reason: str | None = None


# `litellm_params` keys only the Router understands (load balancing and its limits); a deployment
# that sets one keeps going through the Router.
ROUTER_ONLY_PARAMS = frozenset(
    {"rpm", "tpm", "max_parallel_requests", "order", "weight", "region_name", "tags"}
)
_SECRET_PREFIX = "os.environ/"


def direct_params(model_list: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`litellm_params` by `model_name`, for the names `litellm.acompletion` can call alone:
    one deployment, nothing but `model_name` and `litellm_params`, no Router-only parameter."""
    deployments: dict[str, list[dict[str, Any]]] = {}
    for deployment in model_list:
        deployments.setdefault(deployment["model_name"], []).append(deployment)
    return {
        name: dict(only["litellm_params"])
        for name, (only, *more) in deployments.items()
        if not more
        and set(only) <= {"model_name", "litellm_params"}
        and not ROUTER_ONLY_PARAMS & set(only["litellm_params"])
    }


@dataclass(frozen=True)
class Price:
    input_per_token: float
    output_per_token: float


class Gateway:
    """Calls deployments of `model_list` by `model_name`, with latency, tokens and cost."""

    def __init__(self, model_list: Sequence[dict[str, Any]], *, num_retries: int = 0) -> None:
        self._model_list = [dict(d) for d in model_list]
        self._params = {d["model_name"]: dict(d["litellm_params"]) for d in self._model_list}
        self._num_retries = num_retries
        # Retries are the Router's: with them on, every name goes through it.
        self._direct = {} if num_retries else direct_params(self._model_list)
        self._router: Any = None  # litellm.Router, untyped here so litellm stays lazy
        self._litellm: Any = None
        self._warm_lock = threading.RLock()  # warm_up holds it while building the router
        self._warm = threading.Event()
        self.redactor = Redactor.from_model_list(self._model_list)

    @property
    def model_names(self) -> list[str]:
        return list(self._params)

    def _lib(self) -> Any:
        if self._litellm is None:
            self._litellm = _import_litellm()
        return self._litellm

    @property
    def router(self) -> Any:
        if self._router is None:
            with self._warm_lock:
                if self._router is None:
                    litellm = self._lib()
                    # Retries stay off by default: in a fusion the other members are the
                    # redundancy, and a retry would push the step past the slowest member.
                    self._router = litellm.Router(
                        model_list=self._model_list, num_retries=self._num_retries
                    )
        return self._router

    @property
    def is_warm(self) -> bool:
        return self._warm.is_set()

    def warm_up(self) -> None:
        """Import litellm, build the Router if a name needs it, and run one offline call, now.

        Blocking and thread-safe: concurrent callers wait for the one warm-up. The offline call
        (LiteLLM's `mock_response`, no network) loads the ~150 modules LiteLLM imports lazily on
        its first completion (~1 s cold); without it the first real call of a process would
        still pay them inside its timer.
        """
        if self._warm.is_set():
            return
        with self._warm_lock:
            if self._warm.is_set():
                return
            self._lib()
            if len(self._direct) < len(self._params):
                _ = self.router  # some names need it: built now, not inside a call's timer
            if self._model_list:
                try:
                    self._run_offline(
                        self._acompletion(
                            self._model_list[0]["model_name"],
                            [{"role": "user", "content": "warm up"}],
                            mock_response="ok",
                        )
                    )
                except Exception as exc:  # only a head start is lost: real calls still work
                    log.debug("gateway warm-up call failed: %s", self.redactor(str(exc)))
            self._warm.set()

    @staticmethod
    def _run_offline(coroutine: Any) -> None:
        """Run a coroutine to completion on a private event loop, even from inside a loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(coroutine)
            return
        worker = threading.Thread(target=asyncio.run, args=(coroutine,), name="evofuse-warm-up")
        worker.start()
        worker.join()

    def _acompletion(self, model_name: str, messages: list[Message], **kwargs: Any) -> Any:
        """The awaitable LiteLLM call for `model_name`: direct when it has one plain deployment,
        else through the Router (which picks the deployment)."""
        params = self._direct.get(model_name)
        if params is None:
            return self.router.acompletion(model=model_name, messages=messages, **kwargs)
        litellm = self._lib()
        resolved = {
            key: litellm.get_secret(value)
            if isinstance(value, str) and value.startswith(_SECRET_PREFIX)
            else value
            for key, value in params.items()
        }
        # As through the Router with `num_retries=0`: no SDK-level retries either (the OpenAI
        # SDK's own default is two, with backoff, which would push a failing member into its
        # timeout). A deployment's own `max_retries` still wins.
        return litellm.acompletion(**{"max_retries": 0, **resolved, **kwargs, "messages": messages})

    def start_warm_up(self) -> threading.Thread:
        """`warm_up` in a daemon thread; the first call waits for it through `ready`."""
        thread = threading.Thread(target=self.warm_up, name="evofuse-gateway-warm-up", daemon=True)
        thread.start()
        return thread

    async def ready(self) -> None:
        """Wait, without blocking the event loop, until the gateway is warm."""
        if not self._warm.is_set():
            await asyncio.to_thread(self.warm_up)

    # -- pricing and token counting -------------------------------------------------------

    def price(self, model_name: str) -> Price | None:
        """Per-token price: the deployment's own `input/output_cost_per_token`, else LiteLLM's."""
        params = self._params[model_name]
        if "input_cost_per_token" in params and "output_cost_per_token" in params:
            return Price(
                float(params["input_cost_per_token"]), float(params["output_cost_per_token"])
            )
        litellm = self._lib()
        model = params["model"]
        # The Router registers every deployment in litellm.model_cost, with an empty entry for
        # models LiteLLM has no price for; those would then price at $0. Empty means unknown.
        for key in (model, model.split("/", 1)[-1]):
            entry = litellm.model_cost.get(key)
            if entry is not None and entry.get("input_cost_per_token") is None:
                return None
        try:
            prompt_cost, completion_cost = litellm.cost_per_token(
                model=model, prompt_tokens=1_000_000, completion_tokens=1_000_000
            )
        except Exception:  # LiteLLM raises several types for an unmapped model: all mean "unknown"
            return None
        return Price(prompt_cost / 1_000_000, completion_cost / 1_000_000)

    def cost(self, model_name: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.price(model_name)
        if price is None:
            return None
        return prompt_tokens * price.input_per_token + completion_tokens * price.output_per_token

    def count_tokens(self, model_name: str, messages: Sequence[Message]) -> int:
        litellm = self._lib()
        return int(
            litellm.token_counter(model=self._params[model_name]["model"], messages=messages)
        )

    def count_text_tokens(self, model_name: str, text: str) -> int:
        litellm = self._lib()
        return int(litellm.token_counter(model=self._params[model_name]["model"], text=text))

    # -- calls ----------------------------------------------------------------------------

    async def complete(
        self,
        model_name: str,
        messages: Sequence[Message],
        *,
        timeout_s: float,
        settings: ModelSettings = DEFAULT_SETTINGS,
    ) -> CallResult:
        """One non-streaming call; raises `LLMCallError` for every kind of failure."""
        try:
            await self.ready()  # library loading is never part of a call's latency or timeout
        except Exception as exc:  # e.g. a model_list the Router rejects: every call fails alike
            raise self._classify(model_name, exc, time.perf_counter()) from exc
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._acompletion(
                    model_name, list(messages), timeout=timeout_s, **settings.call_kwargs()
                )
        except TimeoutError:
            raise self._failure(
                model_name, "timeout", f"no answer within {timeout_s:g} s", started
            ) from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise self._classify(model_name, exc, started) from exc
        try:
            choice = response.choices[0]
            content = choice.message.content
            finish_reason = choice.finish_reason
        except (AttributeError, IndexError, TypeError) as exc:
            raise self._failure(
                model_name, "error", f"malformed provider response: {exc}", started
            ) from exc
        usage = getattr(response, "usage", None)
        return self._result(model_name, messages, content, usage, started, finish_reason)

    async def stream(
        self,
        model_name: str,
        messages: Sequence[Message],
        *,
        timeout_s: float,
        settings: ModelSettings = DEFAULT_SETTINGS,
    ) -> AsyncIterator[str | CallResult]:
        """Yield text deltas as they arrive, then one final `CallResult` with the whole answer."""
        try:
            await self.ready()  # library loading is never part of a call's latency or timeout
        except Exception as exc:  # e.g. a model_list the Router rejects: every call fails alike
            raise self._classify(model_name, exc, time.perf_counter()) from exc
        started = time.perf_counter()
        parts: list[str] = []
        usage: Any = None
        finish_reason = None
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._acompletion(
                    model_name,
                    list(messages),
                    timeout=timeout_s,
                    stream=True,
                    stream_options={"include_usage": True},
                    **settings.call_kwargs(),
                )
                async for chunk in response:
                    if getattr(chunk, "usage", None):
                        usage = chunk.usage
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    finish_reason = choice.finish_reason or finish_reason
                    delta = getattr(choice.delta, "content", None)
                    if delta:
                        parts.append(delta)
                        yield delta
        except TimeoutError:
            raise self._failure(
                model_name, "timeout", f"no complete answer within {timeout_s:g} s", started
            ) from None
        except asyncio.CancelledError:
            raise
        except LLMCallError:
            raise
        except Exception as exc:
            raise self._classify(model_name, exc, started) from exc
        yield self._result(model_name, messages, "".join(parts), usage, started, finish_reason)

    def _result(
        self,
        model_name: str,
        messages: Sequence[Message],
        content: object,
        usage: Any,
        started: float,
        finish_reason: str | None,
    ) -> CallResult:
        """A finished call, accounted; an empty answer is a failure, not a candidate."""
        latency_ms = (time.perf_counter() - started) * 1000
        if not isinstance(content, str) or not content.strip():
            raise self._failure(
                model_name, "error", "the provider returned an empty answer", started
            )
        # Providers that omit usage (some local servers) are counted with LiteLLM's tokenizer.
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0) or self.count_tokens(
            model_name, messages
        )
        completion_tokens = int(
            getattr(usage, "completion_tokens", 0) or 0
        ) or self.count_text_tokens(model_name, content)
        return CallResult(
            model=model_name,
            content=content,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=self.cost(model_name, prompt_tokens, completion_tokens),
            latency_ms=latency_ms,
            finish_reason=finish_reason,
        )

    # -- failures -------------------------------------------------------------------------

    def _failure(
        self, model: str, status: CallStatus, message: str, started: float
    ) -> LLMCallError:
        latency_ms = (time.perf_counter() - started) * 1000
        return LLMCallError(model, status, self.redactor(message)[:1000], latency_ms)

    def _classify(self, model: str, exc: Exception, started: float) -> LLMCallError:
        litellm = self._lib()
        if isinstance(exc, litellm.Timeout):
            return self._failure(model, "timeout", str(exc) or "timed out", started)
        status_code = getattr(exc, "status_code", None)
        prefix = f"HTTP {status_code}: " if status_code else ""
        if isinstance(exc, litellm.RateLimitError):
            prefix = f"rate limited ({status_code or 429}): "
        return self._failure(model, "error", f"{prefix}{type(exc).__name__}: {exc}", started)

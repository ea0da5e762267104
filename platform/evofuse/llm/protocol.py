"""`ModelGateway`: what the fusion engine needs from the door to the models.

`evofuse.llm.Gateway` (LiteLLM's Router) is the real one. `evofuse.testing.ScriptedGateway`
answers in-process from a script, for unit tests and users' own tests (as pydantic-ai's
`TestModel` stands in for a model): `FusionEngine(settings, gateway=ScriptedGateway(script))`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from evofuse.llm.gateway import DEFAULT_SETTINGS, CallResult, Message
from evofuse.options import ModelSettings


class ModelGateway(Protocol):
    """Calls models by `model_name`; every finished call is a `CallResult`, every failure an
    `LLMCallError` (status `error` or `timeout`, a message safe to show)."""

    @property
    def model_names(self) -> list[str]: ...

    @property
    def is_warm(self) -> bool: ...

    def warm_up(self) -> None:
        """Do the one-time set-up now (blocking), not inside the first call's timer."""

    def start_warm_up(self) -> object:
        """`warm_up` in the background."""

    def cost(self, model_name: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for that many tokens; None when the price is unknown (never a made-up 0)."""

    def count_tokens(self, model_name: str, messages: Sequence[Message]) -> int: ...

    async def complete(
        self,
        model_name: str,
        messages: Sequence[Message],
        *,
        timeout_s: float,
        settings: ModelSettings = DEFAULT_SETTINGS,
    ) -> CallResult:
        """One call, answered whole, with these model settings (none by default)."""

    def stream(
        self,
        model_name: str,
        messages: Sequence[Message],
        *,
        timeout_s: float,
        settings: ModelSettings = DEFAULT_SETTINGS,
    ) -> AsyncIterator[str | CallResult]:
        """Text deltas as they arrive, then one `CallResult` with the whole answer."""

"""What a graph's nodes need at run time, passed as LangGraph's runtime context.

Graphs are compiled with `context_schema=EvoContext` and invoked with `context=EvoContext(...)`;
`evofuse.runtime.Runner` builds it from the configuration. Invoked without one (as LangGraph's
own server does), the nodes build it from the configuration themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from evofuse.ports import RunInfo, RunRecorder, SkillChooser

if TYPE_CHECKING:
    from evofuse.fusion import FusionEngine

# The ports live in evofuse.ports; code written against this module keeps working.
__all__ = ["EvoContext", "RunRecorder", "SkillChooser"]


@dataclass
class EvoContext:
    """Run-scoped dependencies and per-call overrides for EvoFuse nodes."""

    # None when a host that does not know EvoFuse (LangGraph's own server) built the context
    # from its client's JSON: the nodes then complete it from the configuration
    # (`evofuse.runtime.defaults`).
    engine: FusionEngine | None = None
    selector: SkillChooser | None = None
    recorder: RunRecorder | None = None
    graph_id: str = "custom"
    tenant: str | None = None
    user: str | None = None  # already hashed: raw end-user ids never reach the store
    thread_id: str | None = None
    task: str | None = None  # the last user message, recorded with the run for evolution
    api_key_id: str | None = None  # the authenticated key that sent the run (API only)
    # Per-call overrides of the fusion (the API's `evofuse` object): mode, profile, models,
    # judge; `skill` forces a skill by name instead of asking the Selector.
    profile: str | None = None
    mode: str | None = None
    models: list[str] | None = None
    judge: str | None = None
    skill: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, stop, …
    # Stream the final answer as it is written (custom `delta` events). Off when nobody reads
    # the deltas: a streamed judge costs LiteLLM ~0.35 ms of CPU per chunk.
    stream_answer: bool = True

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """The schema hosts show their clients (LangGraph's server and Studio): the fields a
        client may set, not the engine, Selector and recorder EvoFuse supplies."""
        from evofuse.runtime.defaults import ClientContext

        return handler(ClientContext)

    def run_info(self) -> RunInfo:
        """What the recorder keeps about this run (not the engine, selector or overrides)."""
        return RunInfo(
            graph_id=self.graph_id,
            tenant=self.tenant,
            user=self.user,
            thread_id=self.thread_id,
            task=self.task,
            api_key_id=self.api_key_id,
        )

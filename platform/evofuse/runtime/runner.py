"""Runs registered graphs with everything wired: fusion, skills, run records, checkpoints.

    async with Runner(settings) as runner:
        result = await runner.run("assistant", "Review this SQL: …", user="alice")

The run row is written before the graph starts (so before any model call); whatever happens
next — success, a failed step, a cancelled client — ends up in its status.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, aclosing
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel
from langgraph.types import Durability, StreamMode

from evofuse.config import Settings
from evofuse.fusion import FusionEngine
from evofuse.identity import UserHasher
from evofuse.options import DEFAULT_OPTIONS, FusionOptions
from evofuse.runtime.checkpoint import open_checkpointer
from evofuse.runtime.context import (
    Deadline,
    EvoContext,
    RunRecorder,
    SkillChooser,
    run_deadline_s,
    run_outcome,
    within,
)
from evofuse.runtime.nodes import STATUS_BY_RUNNER
from evofuse.runtime.registry import GraphRegistry
from evofuse.runtime.results import RunResult, StepResult
from evofuse.tasks import task_text
from evofuse.telemetry import run_span
from evofuse.telemetry.tracing import end_status

__all__ = ["EventHandler", "Messages", "RunResult", "Runner", "StepResult"]

Messages = str | Sequence[dict[str, Any]]
EventHandler = Callable[[dict[str, Any]], None]


class Runner:
    """Graph registry + fusion engine + skills + recorder + checkpointer, ready to run graphs."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: FusionEngine | None = None,
        selector: SkillChooser | None = None,
        recorder: RunRecorder | None = None,
        registry: GraphRegistry | None = None,
        hasher: UserHasher | None = None,
        checkpoints: bool = True,
        durability: Durability = "exit",
    ) -> None:
        """`durability` is LangGraph's: "exit" writes a run's checkpoint once, when it ends
        (EvoFuse never resumes a run mid-way: a run whose process died is marked
        `interrupted`, and its finished steps are in the run records); "async" or "sync" write
        one per node, for graphs that pause for a human and resume from a step."""
        self.settings = settings
        self.engine = engine or FusionEngine(settings)
        self.selector = selector
        self.recorder = recorder
        self.registry = registry or GraphRegistry(settings.graphs)
        self.hasher = hasher or UserHasher()
        self._use_checkpoints = checkpoints
        self.durability: Durability = durability
        self._checkpointer: BaseCheckpointSaver[str] | None = None
        self._graphs: dict[str, Pregel[Any, Any, Any, Any]] = {}
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Runner:
        if self._use_checkpoints:
            self._checkpointer = await self._stack.enter_async_context(
                open_checkpointer(self.settings.storage.database_url)
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        self._checkpointer = None

    def graph(self, graph_id: str | Pregel[Any, Any, Any, Any]) -> Pregel[Any, Any, Any, Any]:
        """A registered graph (or one passed in), with this runner's checkpointer attached."""
        if isinstance(graph_id, Pregel):
            graph = graph_id
            return (
                graph.copy(update={"checkpointer": self._checkpointer})
                if self._checkpointer
                else graph
            )
        if graph_id not in self._graphs:
            graph = self.registry.get(graph_id)
            if self._checkpointer is not None:
                graph = graph.copy(update={"checkpointer": self._checkpointer})
            self._graphs[graph_id] = graph
        return self._graphs[graph_id]

    async def stream(
        self,
        graph_id: str | Pregel[Any, Any, Any, Any],
        messages: Messages,
        *,
        options: FusionOptions = DEFAULT_OPTIONS,
        user: str | None = None,
        tenant: str | None = None,
        thread_id: str | None = None,
        run_id: str | None = None,
        api_key_id: str | None = None,
        skill: str | None = None,
        stream_answer: bool = True,
        stream_mode: Sequence[StreamMode] = ("custom", "values"),
    ) -> AsyncIterator[tuple[str, Any]]:
        """Run a graph, yielding `(stream_mode, chunk)` pairs; the run's status is always recorded.

        `options` (profile, its overrides, model settings) reach every step as they are;
        `skill` forces a skill by name. `api_key_id` is the key the server authenticated,
        recorded with the run. A run past its deadline (`options.deadline_s`, else the
        profile's `deadline_s`) is stopped and raises `DeadlineExceededError`.
        """
        graph = self.graph(graph_id)
        graph_name = graph_id if isinstance(graph_id, str) else graph.name
        run_id = run_id or uuid.uuid4().hex
        thread_id = thread_id or run_id
        deadline_s = run_deadline_s(self.settings, options)
        deadline = Deadline.after(deadline_s) if deadline_s is not None else None
        ctx = EvoContext(
            engine=self.engine,
            selector=self.selector,
            recorder=self.recorder,
            graph_id=graph_name,
            tenant=tenant,
            user=self.hasher(tenant, user),
            thread_id=thread_id,
            task=task_text(messages),
            api_key_id=api_key_id,
            options=options,
            skill=skill,
            stream_answer=stream_answer,
            deadline=deadline,
        )
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        if self.recorder is not None:
            # Before any model call, and in a thread: SQL never blocks the event loop.
            await asyncio.to_thread(self.recorder.start, run_id, ctx.run_info())
        config: RunnableConfig = {"configurable": {"thread_id": thread_id, STATUS_BY_RUNNER: True}}
        state = {"messages": list(messages), "run_id": run_id}
        # LangGraph warns when given a durability it cannot use (no checkpointer).
        durability: Durability | None = self.durability if graph.checkpointer else None
        status, error = "succeeded", None
        chunks = cast(
            "AsyncGenerator[tuple[str, Any], None]",
            graph.astream(
                state,
                config=config,
                context=ctx,
                stream_mode=list(stream_mode),
                durability=durability,
            ),
        )
        # Current while the graph runs, so LangGraph's node tasks (and their steps and model
        # calls) start inside it: one trace per run.
        with run_span(run_id, graph_name, tenant) as span:
            try:
                async with aclosing(chunks):
                    while True:
                        # The deadline covers the graph's work, never the caller's use of a chunk.
                        try:
                            async with within(deadline):
                                mode, chunk = await anext(chunks)
                        except StopAsyncIteration:
                            break
                        yield mode, chunk
            except BaseException as exc:
                status, error = run_outcome(exc)
                raise
            finally:
                end_status(span, status, error)
                if self.recorder is not None:
                    # Shielded: a second cancellation must not lose how the run ended.
                    await asyncio.shield(
                        asyncio.to_thread(self.recorder.finish, run_id, status, error)
                    )

    async def run(
        self,
        graph_id: str | Pregel[Any, Any, Any, Any],
        messages: Messages,
        *,
        options: FusionOptions = DEFAULT_OPTIONS,
        on_event: EventHandler | None = None,
        user: str | None = None,
        tenant: str | None = None,
        thread_id: str | None = None,
        run_id: str | None = None,
        api_key_id: str | None = None,
        skill: str | None = None,
        stream_answer: bool | None = None,
    ) -> RunResult:
        """Run a graph to the end and return its result; `on_event` sees the progress events.

        Without a reader for the progress events the answer is not streamed, unless
        `stream_answer` says otherwise.
        """
        run_id = run_id or uuid.uuid4().hex
        final: dict[str, Any] = {}
        async for mode, chunk in self.stream(
            graph_id,
            messages,
            options=options,
            user=user,
            tenant=tenant,
            thread_id=thread_id,
            run_id=run_id,
            api_key_id=api_key_id,
            skill=skill,
            stream_answer=on_event is not None if stream_answer is None else stream_answer,
        ):
            if mode == "custom" and on_event is not None:
                on_event(chunk)
            elif mode == "values":
                final = chunk
        graph = graph_id if isinstance(graph_id, str) else graph_id.name
        return RunResult.from_state(run_id, graph, thread_id or run_id, final)

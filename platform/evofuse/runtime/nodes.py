"""The building blocks of EvoFuse graphs: `select_skill`, `fuse_step` and `record`.

Each is a plain async LangGraph node taking `(state, runtime: Runtime[EvoContext])`, usable in any
`StateGraph(AgentState, context_schema=EvoContext)`. Fusion progress (members finishing, answer
deltas) goes to LangGraph's custom stream (`stream_mode="custom"`); the final answer is added to
`messages` as an AIMessage, so `stream_mode="messages"` and `"updates"` work as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from langchain_core.messages import AIMessage, convert_to_openai_messages
from langgraph.config import get_config
from langgraph.runtime import Runtime

from evofuse.config import FusionMode
from evofuse.errors import DeadlineExceededError, UserError
from evofuse.fusion import Finished
from evofuse.runtime.context import (
    Deadline,
    EvoContext,
    run_deadline_s,
    run_outcome,
    within,
)
from evofuse.runtime.defaults import complete_context, needs_completion
from evofuse.runtime.events import PublicSkill, SkillEvent, fusion_event, step_event
from evofuse.runtime.state import AgentState, SkillChoice, StepRecord, StepSpec, current_steps
from evofuse.tasks import task_text
from evofuse.telemetry import step_span

# Set in a run's `configurable` by `Runner`, which records how every run ends itself: the
# `record` node then writes nothing (one finish per run).
STATUS_BY_RUNNER = "evofuse_status_by_runner"

Node = Callable[[AgentState, Runtime[EvoContext]], Awaitable[dict[str, Any]]]


async def _context(runtime: Runtime[EvoContext]) -> tuple[EvoContext, bool]:
    """The run's context, and whether this graph owns the run's final status.

    A context without EvoFuse's parts (LangGraph's server passes only its client's fields) is
    completed from the configuration; nobody else will then record how the run ended, so the
    nodes do. (`Runner` records that itself, around the whole graph.)
    """
    if not needs_completion(runtime.context):
        return runtime.context, False
    return await complete_context(runtime.context, _run_config()), True


def _run_config() -> dict[str, Any] | None:
    try:
        return dict(get_config())
    except RuntimeError:  # called outside a LangGraph run (a node invoked by hand)
        return None


def _host_run_id() -> str | None:
    """The run id of the host that runs this graph: LangGraph's server sets one per run.

    Used as the EvoFuse run id (as hex, like EvoFuse's own ids), so a run is found by the same
    id in LangGraph's API and in `evofuse runs show`.
    """
    configurable = (_run_config() or {}).get("configurable") or {}
    run_id = configurable.get("run_id")
    if not run_id:
        return None
    try:
        return uuid.UUID(str(run_id)).hex
    except ValueError:
        return str(run_id)


async def _ensure_run(
    state: AgentState, ctx: EvoContext, *, new_turn: bool = False
) -> tuple[str, dict[str, Any]]:
    """The run id, creating (and durably recording) the run on first use.

    `new_turn` marks a node that starts a run (select_skill): a run id that already has steps
    belongs to an earlier turn of this thread, and a host's run id (LangGraph's server) that
    differs from the state's starts a new run under the host's id, so a run id written into
    the input never adds to another run. (`Runner` always passes a fresh run id.)
    """
    run_id = state.get("run_id")
    host_run = _host_run_id() if new_turn else None
    stale = new_turn and (bool(current_steps(state)) or (host_run not in (None, run_id)))
    if run_id and not stale:
        return run_id, {}
    run_id = host_run or uuid.uuid4().hex
    if ctx.recorder is not None:
        info = dataclasses.replace(ctx, task=ctx.task or _task(state)).run_info()
        await asyncio.to_thread(ctx.recorder.start, run_id, info)
    return run_id, {"run_id": run_id}


@contextlib.asynccontextmanager
async def _owned_run(ctx: EvoContext, run_id: str, owned: bool) -> AsyncIterator[None]:
    """Record a failed or cancelled run when this graph owns its status (see `_context`)."""
    try:
        yield
    except BaseException as exc:
        if owned and ctx.recorder is not None:
            await _off_loop(ctx.recorder.finish, run_id, *run_outcome(exc))
        raise


async def _off_loop(record: Callable[..., None], *args: Any) -> None:
    """A recorder call from an error handler: in a thread (SQL must not block the event loop),
    shielded so that a second cancellation cannot lose the record."""
    await asyncio.shield(asyncio.to_thread(record, *args))


def _task(state: AgentState) -> str | None:
    return task_text(state.get("messages", []))


def last_user_text(state: AgentState) -> str:
    """The task the Selector routes on: the same text the run records (`evofuse.tasks`)."""
    text = _task(state)
    if text is None:
        raise UserError(
            "The graph was given no user message", hint="Pass messages=[{'role': 'user', ...}]"
        )
    return text


async def select_skill(state: AgentState, runtime: Runtime[EvoContext]) -> dict[str, Any]:
    """Ask the Selector for the best skill version for this task and user."""
    return await _select(state, runtime, None)


def select_named_skill(name: str) -> Node:
    """A `select_skill` node for graphs built around one skill: picks that skill's best version."""

    async def node(state: AgentState, runtime: Runtime[EvoContext]) -> dict[str, Any]:
        return await _select(state, runtime, name)

    node.__name__ = f"select_skill_{name}"
    return node


async def _select(
    state: AgentState, runtime: Runtime[EvoContext], preferred: str | None
) -> dict[str, Any]:
    ctx, owned = await _context(runtime)
    run_id, update = await _ensure_run(state, ctx, new_turn=True)
    if owned:  # the run starts here: so does its deadline's clock
        ctx, update = _own_deadline(state, ctx, run_id, update)
    selector, recorder = ctx.selector, ctx.recorder

    def choose_and_record() -> SkillChoice | None:
        choice = None
        if selector is not None:
            choice = selector.choose(
                last_user_text(state),
                tenant=ctx.tenant,
                user=ctx.user,
                skill=ctx.skill or preferred,
            )
        if recorder is not None:
            recorder.skill_chosen(run_id, choice)
        return choice

    async with _owned_run(ctx, run_id, owned):
        # Embedding and SQL (~15 ms): off the event loop, in one thread hop, so concurrent
        # runs keep streaming.
        choice = await asyncio.to_thread(choose_and_record)
    skill_event: SkillEvent = {
        "event": "skill",
        "skill": None if choice is None else _public_skill(choice),
    }
    runtime.stream_writer(skill_event)
    return {**update, "skill": choice}


def fuse_step(
    name: str = "answer",
    instruction: str | None = None,
    mode: str | None = None,
    *,
    final: bool = True,
) -> Node:
    """A node that runs one LLM step through the fusion engine.

    The members get the conversation, the chosen skill's instructions and this step's
    instruction; earlier steps' outputs are shown as work so far. Mode: the per-call override,
    else this step's, else the skill's, else the profile's. A `final` step's answer is appended
    to `messages`.
    """

    modes = [m.value for m in FusionMode]
    if mode is not None and mode not in modes:  # a typo fails where the graph is written
        raise UserError(
            f"fuse_step({name!r}): mode {mode!r} is not a fusion mode",
            hint=f"Use one of: {', '.join(modes)}.",
        )

    async def node(state: AgentState, runtime: Runtime[EvoContext]) -> dict[str, Any]:
        spec: StepSpec = {"name": name, "instruction": instruction or "", "mode": mode}
        return await run_step(state, runtime, spec, final=final)

    node.__name__ = f"fuse_step_{name}"
    return node


async def run_step(
    state: AgentState, runtime: Runtime[EvoContext], spec: StepSpec, *, final: bool
) -> dict[str, Any]:
    """Run one step (shared by `fuse_step` and the prebuilt agent's skill loop)."""
    ctx, owned = await _context(runtime)
    run_id, update = await _ensure_run(state, ctx)
    if owned:
        ctx, update = _own_deadline(state, ctx, run_id, update)
    index = len(current_steps({**state, "run_id": run_id}))
    name = spec.get("name") or f"step-{index + 1}"
    async with _owned_run(ctx, run_id, owned):
        with step_span(run_id, index, name, state.get("skill")):
            # Under `Runner` the Runner keeps the deadline; a run the graph owns keeps its own.
            async with within(ctx.deadline if owned else None):
                return await _fuse(state, runtime, ctx, run_id, update, spec, final=final)


def _own_deadline(
    state: AgentState, ctx: EvoContext, run_id: str, update: dict[str, Any]
) -> tuple[EvoContext, dict[str, Any]]:
    """The deadline of a run this graph records itself (LangGraph's server runs it, not
    `Runner`): set when the host's run starts, kept in the state (wall-clock, so it survives a
    checkpoint), and enforced by each step. Keyed by the host's run id, so work resumed by a
    later host run (after an interrupt) gets a deadline of its own, as a new `Runner` call
    would."""
    key = _host_run_id() or run_id
    given = state.get("deadline")
    if given is None or given["run_id"] != key:
        assert ctx.engine is not None  # completed by `_context`
        seconds = run_deadline_s(ctx.engine.settings, ctx.options)
        if seconds is None:
            return ctx, update
        given = {"run_id": key, "seconds": seconds, "at": time.time() + seconds}
        update = {**update, "deadline": given}
    at = asyncio.get_running_loop().time() + (given["at"] - time.time())
    return dataclasses.replace(ctx, deadline=Deadline(given["seconds"], at)), update


async def _fuse(
    state: AgentState,
    runtime: Runtime[EvoContext],
    ctx: EvoContext,
    run_id: str,
    update: dict[str, Any],
    spec: StepSpec,
    *,
    final: bool,
) -> dict[str, Any]:
    assert ctx.engine is not None  # completed by `_context`
    skill = state.get("skill")
    index = len(current_steps({**state, "run_id": run_id}))
    name = spec.get("name") or f"step-{index + 1}"
    write = runtime.stream_writer
    result = None
    try:
        # The request's mode wins, then this step's, then the skill's, then the profile's.
        # Inside the try: a mode that is none (a chooser's typo) is a failed step on record.
        options = ctx.options
        step_mode = spec.get("mode") or (skill or {}).get("mode")
        if options.mode is None and step_mode:
            options = options.replace(mode=step_mode, where=f"step {name!r}")
        messages = _step_messages(state, run_id, spec)
        write(step_event(index, name, options.mode.value if options.mode else None))
        async for event in ctx.engine.events(
            messages,
            options,
            instructions=(skill or {}).get("instructions") or None,
            stream_answer=ctx.stream_answer,
            # Mode `auto` learns per skill (this exact one, by its version), per tenant.
            skill=(skill or {}).get("name"),
            skill_version_id=(skill or {}).get("version_id"),
            tenant=ctx.tenant,
            run_id=run_id,
        ):
            progress = fusion_event(event, index, final=final)
            if progress is not None:
                write(progress)
            elif isinstance(event, Finished):
                result = event.result
    except BaseException as exc:
        if ctx.recorder is not None:
            why: BaseException = exc
            if isinstance(exc, asyncio.CancelledError) and ctx.deadline and ctx.deadline.passed():
                why = DeadlineExceededError(ctx.deadline.seconds)  # out of time, not cancelled
            await _off_loop(ctx.recorder.step_failed, run_id, index, name, why)
        raise
    assert result is not None
    if ctx.recorder is not None:
        await asyncio.to_thread(ctx.recorder.step_finished, run_id, index, name, result)
    record: StepRecord = {
        "run_id": run_id,
        "index": index,
        "name": name,
        "mode": result.mode.value,
        "content": result.content,
        "fusion": result.model_dump(mode="json"),
    }
    out: dict[str, Any] = {**update, "steps": [record]}
    if final:
        out["answer"] = result.content
        out["messages"] = [AIMessage(content=result.content, id=f"{run_id}-{index}")]
    return out


async def record(state: AgentState, runtime: Runtime[EvoContext]) -> dict[str, Any]:
    """Mark the run succeeded. (Failures are recorded by the step that failed and the Runner.)

    Under `Runner`, which records how every run ends once the graph is done, this writes
    nothing: one finish per run.
    """
    ctx, _ = await _context(runtime)
    run_id, update = await _ensure_run(state, ctx)
    configurable = (_run_config() or {}).get("configurable") or {}
    if ctx.recorder is not None and not configurable.get(STATUS_BY_RUNNER):
        await asyncio.to_thread(ctx.recorder.finish, run_id, "succeeded")
    return update


def _step_messages(state: AgentState, run_id: str, spec: StepSpec) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = convert_to_openai_messages(state.get("messages", []))
    done = current_steps({**state, "run_id": run_id})
    instruction = spec.get("instruction")
    if not done and not instruction:
        return messages
    parts = []
    if done:
        work = "\n\n".join(f"## {s['name']}\n{s['content']}" for s in done)
        parts.append(f"Work so far on this request:\n\n{work}")
    if instruction:
        parts.append(f"Now do this step ({spec.get('name')}): {instruction}")
    return [*messages, {"role": "user", "content": "\n\n".join(parts)}]


def _public_skill(choice: SkillChoice) -> PublicSkill:
    return {
        "name": choice.get("name"),
        "version": choice.get("version"),
        "score": choice.get("score"),
        "scope": choice.get("scope"),
        "reason": choice.get("reason"),
        "steps": [s.get("name") for s in choice.get("steps", [])],
    }

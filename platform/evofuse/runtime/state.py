"""The typed state every EvoFuse graph carries, and the per-run context its nodes need."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from evofuse.ports import SkillChoice, StepSpec

# SkillChoice and StepSpec live in evofuse.ports; graphs written against this module keep working.
__all__ = ["AgentState", "RunDeadline", "SkillChoice", "StepRecord", "StepSpec", "current_steps"]


class StepRecord(TypedDict):
    """What one fused step produced: its text and the fusion result (the `evofuse` object)."""

    run_id: str  # a thread accumulates steps over many runs; each run counts its own
    index: int
    name: str
    mode: str
    content: str
    fusion: dict[str, Any]


class RunDeadline(TypedDict):
    """When a run the graph records itself (under LangGraph's server) must be over."""

    run_id: str  # the host's run it bounds: later turns and resumed work get their own
    seconds: float
    at: float  # wall-clock time (time.time()), so it survives a checkpoint


class AgentState(TypedDict, total=False):
    """State of an EvoFuse agent graph.

    `messages` uses LangGraph's `add_messages` reducer, so callers pass OpenAI-style dicts or
    LangChain messages. `steps` accumulates across nodes. Per-call overrides (`mode`, `skill`)
    live in the state so a graph can also set them itself.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    run_id: str
    skill: SkillChoice | None
    steps: Annotated[list[StepRecord], operator.add]
    answer: str
    deadline: RunDeadline  # only for runs the graph records itself (see runtime.nodes)


def current_steps(state: AgentState) -> list[StepRecord]:
    """The steps of the run in progress (a checkpointed thread also holds earlier runs' steps)."""
    run_id = state.get("run_id")
    return [s for s in state.get("steps", []) if s["run_id"] == run_id]

"""The typed state every EvoFuse graph carries, and the per-run context its nodes need."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class StepSpec(TypedDict, total=False):
    """One phase of a skill: its name, what to do, and optionally the fusion mode to do it in."""

    name: str
    instruction: str
    mode: str | None


class SkillChoice(TypedDict, total=False):
    """The skill version the Selector chose for this run."""

    name: str
    version: int
    version_id: int  # primary key of the version row, for outcome records
    instructions: str  # the SKILL.md body, given to every member as extra instructions
    mode: str | None  # the skill's preferred fusion mode
    steps: list[StepSpec]
    score: float  # the Selector's ranking score (for the record and the live view)
    scope: str  # global | tenant | user
    reason: str  # why the Selector chose it, in words (shown by `run` and `demo`)


class StepRecord(TypedDict):
    """What one fused step produced: its text and the fusion result (the `evofuse` object)."""

    run_id: str  # a thread accumulates steps over many runs; each run counts its own
    index: int
    name: str
    mode: str
    content: str
    fusion: dict[str, Any]


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


def current_steps(state: AgentState) -> list[StepRecord]:
    """The steps of the run in progress (a checkpointed thread also holds earlier runs' steps)."""
    run_id = state.get("run_id")
    return [s for s in state.get("steps", []) if s["run_id"] == run_id]

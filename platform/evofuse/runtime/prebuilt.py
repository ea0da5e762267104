"""`create_skill_agent`: select a skill, run its steps one by one through fusion, answer."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer

from evofuse.runtime.context import EvoContext
from evofuse.runtime.nodes import record, run_step, select_skill
from evofuse.runtime.state import AgentState, StepSpec, current_steps

_DEFAULT_STEP: StepSpec = {"name": "answer", "instruction": "", "mode": None}


def skill_steps(state: AgentState) -> list[StepSpec]:
    """The chosen skill's steps; a skill without steps (or no skill) is one answering step."""
    skill = state.get("skill") or {}
    return list(skill.get("steps") or []) or [_DEFAULT_STEP]


async def skill_step(state: AgentState, runtime: Runtime[EvoContext]) -> dict[str, Any]:
    """Run the next step of the chosen skill."""
    steps = skill_steps(state)
    index = len(current_steps(state))
    return await run_step(state, runtime, steps[index], final=index == len(steps) - 1)


def _more_steps(state: AgentState) -> str:
    return "skill_step" if len(current_steps(state)) < len(skill_steps(state)) else "record"


def create_skill_agent(
    *, checkpointer: Checkpointer = None, name: str = "skill_agent"
) -> CompiledStateGraph[AgentState, EvoContext, AgentState, AgentState]:
    """The standard EvoFuse agent: select_skill → each skill step through fusion → record.

    Each step is its own super-step, so `stream_mode="updates"` shows the steps as they finish.
    """
    builder = StateGraph(AgentState, context_schema=EvoContext)
    builder.add_node("select_skill", select_skill)
    builder.add_node("skill_step", skill_step)
    builder.add_node("record", record)
    builder.add_edge(START, "select_skill")
    builder.add_edge("select_skill", "skill_step")
    builder.add_conditional_edges("skill_step", _more_steps, ["skill_step", "record"])
    builder.add_edge("record", END)
    return builder.compile(checkpointer=checkpointer, name=name)

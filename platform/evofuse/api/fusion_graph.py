"""The graphs behind `model: "fusion/<profile>"`: one fused answer, recorded like any run.

Plain fusion asks no Selector (it is the raw model pool); a request that names a skill in its
`evofuse` object still gets that skill, so the run and its feedback count for the skill.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.pregel import Pregel
from langgraph.runtime import Runtime

from evofuse.runtime.context import EvoContext
from evofuse.runtime.nodes import fuse_step, record, select_skill
from evofuse.runtime.state import AgentState

FUSION_PREFIX = "fusion/"


async def named_skill(state: AgentState, runtime: Runtime[EvoContext]) -> dict[str, Any]:
    """Load the skill the request named; without one, no skill at all."""
    if runtime.context is None or not runtime.context.skill:
        return {}
    return await select_skill(state, runtime)


_fuse_answer = fuse_step("answer")


async def answer(state: AgentState, runtime: Runtime[EvoContext]) -> dict[str, Any]:
    """The one fused step; its answer is the run's answer."""
    return await _fuse_answer(state, runtime)


def fusion_graph(profile: str) -> Pregel[Any, Any, Any, Any]:
    builder = StateGraph(AgentState, context_schema=EvoContext)
    builder.add_node("named_skill", named_skill)
    builder.add_node("answer", answer)
    builder.add_node("record", record)
    builder.add_edge(START, "named_skill")
    builder.add_edge("named_skill", "answer")
    builder.add_edge("answer", "record")
    builder.add_edge("record", END)
    return builder.compile(name=FUSION_PREFIX + profile)

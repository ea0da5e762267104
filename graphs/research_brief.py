"""Research brief: plan, draft, critique, final — each phase a fused step.

Uses the best version of the `research-brief` skill for this user, if the library has one.
"""

from langgraph.graph import END, START, StateGraph

from evofuse.runtime.context import EvoContext
from evofuse.runtime.nodes import fuse_step, record, select_named_skill
from evofuse.runtime.state import AgentState

PHASES = [
    (
        "plan",
        "Plan the brief: the key questions to answer, the sections, what evidence each needs.",
        "merge",
    ),
    (
        "draft",
        "Write the brief following the plan. State uncertainty plainly; mark assumptions.",
        "merge",
    ),
    (
        "critique",
        "Critique the draft: factual errors, gaps, weak claims, unclear passages.",
        "debate",
    ),
    (
        "final",
        "Write the final brief, fixing everything the critique found. Output only the brief.",
        "merge",
    ),
]

builder = StateGraph(AgentState, context_schema=EvoContext)
builder.add_node("select_skill", select_named_skill("research-brief"))
builder.add_edge(START, "select_skill")
previous = "select_skill"
for name, instruction, mode in PHASES:
    builder.add_node(name, fuse_step(name, instruction, mode=mode, final=name == "final"))
    builder.add_edge(previous, name)
    previous = name
builder.add_node("record", record)
builder.add_edge(previous, "record")
builder.add_edge("record", END)
graph = builder.compile(name="research_brief")

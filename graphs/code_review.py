"""Code review: understand the change, find defects in debate mode, write the review in merge mode.

Uses the best version of the `code-review` skill for this user, if the library has one.
"""

from langgraph.graph import END, START, StateGraph

from evofuse.runtime.context import EvoContext
from evofuse.runtime.nodes import fuse_step, record, select_named_skill
from evofuse.runtime.state import AgentState

builder = StateGraph(AgentState, context_schema=EvoContext)
builder.add_node("select_skill", select_named_skill("code-review"))
builder.add_node(
    "understand",
    fuse_step(
        "understand",
        "Summarize what the change does and what it is meant to achieve, file by file. "
        "Do not judge it yet.",
        mode="merge",
        final=False,
    ),
)
builder.add_node(
    "find_defects",
    fuse_step(
        "find_defects",
        "List every defect you can find: bugs, unhandled errors, security issues, race "
        "conditions, missing tests. For each: location, why it is wrong, how to fix it. "
        "Do not list style nits.",
        mode="debate",
        final=False,
    ),
)
builder.add_node(
    "write_review",
    fuse_step(
        "write_review",
        "Write the review for the author: a one-paragraph verdict, then the defects ordered by "
        "severity with concrete fixes, then optional suggestions. Be specific and kind.",
        mode="merge",
    ),
)
builder.add_node("record", record)
builder.add_edge(START, "select_skill")
builder.add_edge("select_skill", "understand")
builder.add_edge("understand", "find_defects")
builder.add_edge("find_defects", "write_review")
builder.add_edge("write_review", "record")
builder.add_edge("record", END)
graph = builder.compile(name="code_review")

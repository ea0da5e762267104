"""Define your own agent graph with EvoFuse's nodes, and run it.

    python examples/custom_graph.py "Explain this error: KeyError: 'id'" [--config evofuse.yaml]

The graph: pick the best skill for the task, draft an answer (merge of the pool), check it in
debate mode, then write the final answer. Every step is fused and the run is recorded.
"""

import argparse
import asyncio

from langgraph.graph import END, START, StateGraph

from evofuse.config import load_settings
from evofuse.localmodel import local_model_running
from evofuse.runtime.context import EvoContext
from evofuse.runtime.nodes import fuse_step, record, select_skill
from evofuse.runtime.state import AgentState
from evofuse.services import Services

builder = StateGraph(AgentState, context_schema=EvoContext)
builder.add_node("select_skill", select_skill)
builder.add_node("draft", fuse_step("draft", "Draft a complete answer.", mode="merge", final=False))
builder.add_node(
    "check", fuse_step("check", "List mistakes in the draft.", mode="debate", final=False)
)
builder.add_node(
    "final", fuse_step("final", "Write the corrected final answer only.", mode="merge")
)
builder.add_node("record", record)
builder.add_edge(START, "select_skill")
builder.add_edge("select_skill", "draft")
builder.add_edge("draft", "check")
builder.add_edge("check", "final")
builder.add_edge("final", "record")
builder.add_edge("record", END)
graph = builder.compile(name="draft_check_final")


async def main(task: str, config: str | None) -> None:
    settings = load_settings(config)
    services = Services.from_settings(settings)
    with local_model_running(settings.local_model):
        async with services.runner() as runner:
            result = await runner.run(graph, task, user="example-user")
    services.close()
    skill = result.skill["name"] if result.skill else "none"
    print(f"skill: {skill} · steps: {[s.name for s in result.steps]} · run: {result.run_id}")
    print(result.answer)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("--config", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.task, args.config))

"""The LangGraph runtime: graphs end to end, per-step modes, durable run records, threads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from evofuse.errors import AllMembersFailedError, GraphLoadError, UnknownGraphError, UserError
from evofuse.options import FusionOptions
from evofuse.runtime.context import EvoContext
from evofuse.runtime.nodes import fuse_step, record, select_skill
from evofuse.runtime.registry import GraphRegistry
from evofuse.runtime.runner import Runner
from evofuse.runtime.state import AgentState, SkillChoice
from evofuse.store import Store
from evofuse.store.recorder import SqlRunRecorder
from evofuse.store.run_queries import get_run, list_runs
from evofuse.testing import judge_reply
from tests.support.databases import database_url  # noqa: F401  (fixture)
from tests.unit.conftest import FakePool

REPO = Path(__file__).resolve().parents[2]


class FixedChooser:
    """Always offers the same skill: isolates the runtime from selection (tested elsewhere)."""

    def __init__(self, choice: SkillChoice | None) -> None:
        self.choice = choice
        self.calls: list[dict[str, Any]] = []

    def choose(
        self, task: str, *, tenant: str | None, user: str | None, skill: str | None
    ) -> SkillChoice | None:
        self.calls.append({"task": task, "tenant": tenant, "user": user, "skill": skill})
        return self.choice


THREE_STEP_SKILL: SkillChoice = {
    "name": "sql-review",
    "version": 3,
    "version_id": 1,
    "instructions": "You review SQL.",
    "mode": "best-of",
    "steps": [
        {"name": "read", "instruction": "Read the query.", "mode": None},
        {"name": "defects", "instruction": "Find defects.", "mode": "debate"},
        {"name": "write", "instruction": "Write the review.", "mode": "merge"},
    ],
}


@pytest.fixture
def standard_pool(pool: FakePool) -> FakePool:
    pool.model("m1", content="member one says")
    pool.model("m2", content="member two says")
    pool.model("j", content=judge_reply(answer="the fused answer"))
    return pool


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:  # noqa: F811
    store = Store(database_url)
    yield store
    store.close()


def make_runner(pool: FakePool, store: Store, tmp_path: Path, chooser: Any = None) -> Runner:
    settings = pool.settings(
        storage={
            "database_url": store.engine.url.render_as_string(hide_password=False),
            "chroma": str(tmp_path / "c"),
        },
        graphs=str(REPO / "langgraph.json"),
    )
    return Runner(settings, selector=chooser, recorder=SqlRunRecorder(store))


async def test_assistant_runs_skill_steps_with_their_modes(
    standard_pool: FakePool, store: Store, tmp_path: Path
) -> None:
    chooser = FixedChooser(THREE_STEP_SKILL)
    async with make_runner(standard_pool, store, tmp_path, chooser) as runner:
        result = await runner.run("assistant", "Review: SELECT * FROM t", user="alice")

    assert result.answer == "the fused answer"
    assert [s.name for s in result.steps] == ["read", "defects", "write"]
    # the step's mode, else the skill's (read has none → the skill's best-of)
    assert [s.mode for s in result.steps] == ["best-of", "debate", "merge"]
    member_calls = standard_pool.behaviours["m1"].calls
    assert "You review SQL." in member_calls[0]["messages"][0]["content"]
    assert "Now do this step (defects): Find defects." in json.dumps(member_calls[1]["messages"])
    # later steps see the earlier steps' outputs
    assert "## read" in member_calls[1]["messages"][-1]["content"]

    obj = result.evofuse_object()
    assert obj["skill"] == {"name": "sql-review", "version": 3}
    assert obj["run_id"] == result.run_id and len(obj["steps"]) == 3

    detail = get_run(store, result.run_id)
    assert detail["status"] == "succeeded" and detail["skill"] == {
        "name": "sql-review",
        "version": 3,
    }
    assert [s["status"] for s in detail["steps"]] == ["succeeded"] * 3
    debate = detail["steps"][1]
    assert {c["round"] for c in debate["candidates"]} == {0, 1}  # every round is kept
    assert debate["judge"]["winner"] in {"m1", "m2"} and debate["judge"]["prompt_version"]
    assert detail["user"] and detail["user"] != "alice"  # only a keyed hash is stored
    assert detail["answer"] == "the fused answer"


async def test_per_call_mode_overrides_step_and_skill(
    standard_pool: FakePool, store: Store, tmp_path: Path
) -> None:
    async with make_runner(
        standard_pool, store, tmp_path, FixedChooser(THREE_STEP_SKILL)
    ) as runner:
        result = await runner.run("assistant", "x", options=FusionOptions(mode="merge"))
    assert [s.mode for s in result.steps] == ["merge", "merge", "merge"]


async def test_code_review_graph_modes(
    standard_pool: FakePool, store: Store, tmp_path: Path
) -> None:
    chooser = FixedChooser(None)
    async with make_runner(standard_pool, store, tmp_path, chooser) as runner:
        result = await runner.run("code_review", "diff --git a/x.py ...")
    assert [(s.name, s.mode) for s in result.steps] == [
        ("understand", "merge"),
        ("find_defects", "debate"),
        ("write_review", "merge"),
    ]
    assert chooser.calls[0]["skill"] == "code-review"  # it asks for the best code-review version


async def test_research_brief_graph(standard_pool: FakePool, store: Store, tmp_path: Path) -> None:
    async with make_runner(standard_pool, store, tmp_path) as runner:
        result = await runner.run("research_brief", "Brief me on vector databases")
    assert [s.name for s in result.steps] == ["plan", "draft", "critique", "final"]
    assert result.answer == "the fused answer"


async def test_failing_step_is_recorded_as_failed(
    pool: FakePool, store: Store, tmp_path: Path
) -> None:
    pool.model("m1", status=500, error_message="provider down")
    pool.model("m2", status=503, error_message="overloaded")
    pool.model("j", content=judge_reply(answer="never"))
    async with make_runner(pool, store, tmp_path) as runner:
        with pytest.raises(AllMembersFailedError):
            await runner.run("assistant", "hello", run_id="run-fails")
    detail = get_run(store, "run-fails")
    assert detail["status"] == "failed" and "AllMembersFailedError" in detail["error"]
    step = detail["steps"][0]
    assert step["status"] == "failed" and "provider down" in step["error"]
    assert {c["status"] for c in step["candidates"]} == {"error"}


async def test_thread_resume_keeps_the_conversation(
    standard_pool: FakePool, store: Store, tmp_path: Path
) -> None:
    async with make_runner(standard_pool, store, tmp_path) as runner:
        first = await runner.run("assistant", "My name is Ada.", thread_id="thread-1")
        second = await runner.run("assistant", "What is my name?", thread_id="thread-1")
    assert first.run_id != second.run_id and len(second.steps) == 1
    sent = standard_pool.behaviours["m1"].calls[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "My name is Ada." and sent[-1]["content"] == "What is my name?"
    assert {r["thread_id"] for r in list_runs(store)} == {"thread-1"}


async def test_user_written_graph_with_the_nodes(standard_pool: FakePool) -> None:
    builder = StateGraph(AgentState, context_schema=EvoContext)
    builder.add_node("select_skill", select_skill)
    builder.add_node("answer", fuse_step("answer", "Answer briefly.", mode="best-of"))
    builder.add_node("record", record)
    builder.add_edge(START, "select_skill")
    builder.add_edge("select_skill", "answer")
    builder.add_edge("answer", "record")
    builder.add_edge("record", END)
    graph = builder.compile()
    ctx = EvoContext(engine=standard_pool.engine())
    out = await graph.ainvoke({"messages": [{"role": "user", "content": "hi"}]}, context=ctx)
    assert out["answer"] in {"member one says", "member two says"}  # best-of returns a candidate
    modes = []
    async for mode, chunk in graph.astream(
        {"messages": [{"role": "user", "content": "hi"}]},
        context=ctx,
        stream_mode=["updates", "messages", "custom"],
    ):
        modes.append(mode)
        if mode == "messages":
            assert chunk[0].content in {"member one says", "member two says"}
    assert {"updates", "messages", "custom"} <= set(modes)


def test_registry_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "nograph.py").write_text("x = 1\n")
    (tmp_path / "builder.py").write_text(
        "from langgraph.graph import StateGraph\nfrom typing import TypedDict\n"
        "class S(TypedDict):\n    x: int\ngraph = StateGraph(S)\n"
    )
    registry_file = tmp_path / "langgraph.json"
    registry_file.write_text(
        json.dumps(
            {
                "graphs": {
                    "broken": "./broken.py:graph",
                    "nograph": "./nograph.py:graph",
                    "builder": "./builder.py:graph",
                    "missing": "./missing.py:graph",
                }
            }
        )
    )
    registry = GraphRegistry(registry_file)
    with pytest.raises(UnknownGraphError, match="Unknown graph 'nope'") as caught:
        registry.get("nope")
    assert "broken" in (caught.value.hint or "")
    with pytest.raises(GraphLoadError, match="boom at import"):
        registry.get("broken")
    with pytest.raises(GraphLoadError, match="has no attribute 'graph'"):
        registry.get("nograph")
    with pytest.raises(GraphLoadError, match="not a compiled LangGraph graph"):
        registry.get("builder")
    with pytest.raises(GraphLoadError, match="does not exist"):
        registry.get("missing")
    with pytest.raises(UserError, match="Graph registry not found"):
        GraphRegistry(tmp_path / "absent.json")


def test_repository_registry_loads_every_graph() -> None:
    registry = GraphRegistry(REPO / "langgraph.json")
    assert {"assistant", "code_review", "research_brief"} <= set(registry.ids)
    for graph_id in registry.ids:
        assert registry.get(graph_id) is registry.get(graph_id)  # loaded once, cached

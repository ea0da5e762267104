"""One reading of a conversation's task: what the Selector routes on is what the run records
(and what evolution later clusters and replays)."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from evofuse.runtime.runner import Runner
from evofuse.skills.selector import task_text as selector_task_text
from evofuse.store import Store
from evofuse.store.recorder import SqlRunRecorder
from evofuse.store.runs import RunRow
from evofuse.tasks import task_text
from evofuse.testing import judge_reply as verdict
from tests.unit.conftest import FakePool
from tests.unit.test_runtime import THREE_STEP_SKILL, FixedChooser

REPO = Path(__file__).resolve().parents[2]
PARTS = [
    {"type": "text", "text": "Review this query:"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    {"type": "text", "text": "  SELECT * FROM t  "},
]
EXPECTED = "Review this query:\n  SELECT * FROM t"  # parts joined, then stripped


def test_multi_part_content_reads_the_same_as_dicts_and_as_langchain_messages() -> None:
    dicts = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "an earlier question"},
        {"role": "assistant", "content": "an earlier answer"},
        {"role": "user", "content": PARTS},
    ]
    langchain = [
        SystemMessage("Be brief."),
        HumanMessage("an earlier question"),
        AIMessage("an earlier answer"),
        HumanMessage(content=list(PARTS)),  # type: ignore[arg-type]
    ]
    assert task_text(dicts) == task_text(langchain) == selector_task_text(dicts) == EXPECTED


def test_no_user_message_and_image_only_content() -> None:
    assert task_text([{"role": "system", "content": "x"}]) is None
    assert selector_task_text([{"role": "system", "content": "x"}]) == ""
    assert task_text([{"role": "user", "content": [PARTS[1]]}]) == ""
    assert task_text("  plain text  ") == "plain text"


async def test_the_recorded_task_is_the_text_the_selector_routed_on(
    pool: FakePool, tmp_path: Path
) -> None:
    pool.model("m1", content="member one says")
    pool.model("m2", content="member two says")
    pool.model("j", content=verdict(answer="the fused answer"))
    url = f"sqlite:///{tmp_path}/evofuse.db"
    store = Store(url)
    chooser = FixedChooser(THREE_STEP_SKILL)
    settings = pool.settings(
        storage={"database_url": url, "chroma": str(tmp_path / "c")},
        graphs=str(REPO / "langgraph.json"),
    )
    try:
        runner = Runner(settings, selector=chooser, recorder=SqlRunRecorder(store))
        async with runner:
            result = await runner.run("assistant", [{"role": "user", "content": PARTS}])
        with store.session() as session:
            row = session.get(RunRow, result.run_id)
        assert row is not None
        assert [call["task"] for call in chooser.calls] == [EXPECTED]
        assert row.task == EXPECTED
    finally:
        store.close()

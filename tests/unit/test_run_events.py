"""The progress events on the `custom` stream: every chunk the nodes write parses as a typed
run event, and a chunk that is not one is told apart."""

from __future__ import annotations

from pathlib import Path

from evofuse.runtime.events import parse_event
from evofuse.runtime.runner import Runner
from evofuse.testing import judge_reply as verdict
from tests.unit.conftest import FakePool
from tests.unit.test_runtime import THREE_STEP_SKILL, FixedChooser

REPO = Path(__file__).resolve().parents[2]


async def test_every_progress_chunk_is_a_typed_event(pool: FakePool, tmp_path: Path) -> None:
    pool.model("m1", content="member one says")
    pool.model("m2", content="member two says")
    pool.model("j", content=verdict(answer="the fused answer"))
    settings = pool.settings(
        storage={"database_url": f"sqlite:///{tmp_path}/e.db", "chroma": str(tmp_path / "c")},
        graphs=str(REPO / "langgraph.json"),
    )
    one_step = {**THREE_STEP_SKILL, "steps": [], "mode": "merge"}
    runner = Runner(settings, selector=FixedChooser(one_step), checkpoints=False)
    chunks = []
    async with runner:
        async for mode, chunk in runner.stream("assistant", "Review: SELECT 1"):
            if mode == "custom":
                chunks.append(chunk)
    events = [parse_event(c) for c in chunks]
    assert None not in events
    kinds = [e["event"] for e in events if e is not None]
    assert kinds[:2] == ["skill", "step"] and "judge" in kinds and "delta" in kinds
    assert sorted(e["model"] for e in events if e is not None and e["event"] == "member") == [
        "m1",
        "m2",
    ]
    skill = events[0]
    assert skill is not None and skill["event"] == "skill" and skill["skill"] is not None
    assert skill["skill"]["name"] == "sql-review" and "instructions" not in skill["skill"]
    answer = "".join(e["text"] for e in events if e is not None and e["event"] == "delta")
    assert answer == "the fused answer"


def test_chunks_that_are_not_run_events() -> None:
    assert parse_event({"event": "delta", "step": 0, "final": True}) is None  # no text
    assert parse_event({"event": "mine", "value": 1}) is None
    assert parse_event("a graph's own chunk") is None
    assert parse_event({"event": "judge", "step": 1, "model": "j"}) == {
        "event": "judge",
        "step": 1,
        "model": "j",
    }

"""What recording costs a run: one transaction when it starts, one per step, one at the end,
none of them on the event loop's thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from evofuse.errors import UserError
from evofuse.ports import RunInfo
from evofuse.runtime.nodes import fuse_step
from evofuse.runtime.runner import Runner
from evofuse.runtime.state import SkillChoice
from evofuse.store import Store
from evofuse.store.recorder import SqlRunRecorder
from evofuse.store.rows import Rows
from evofuse.store.run_queries import get_run
from evofuse.store.runs import CandidateRow, RunRow, StepRow, VerdictRow
from evofuse.testing import judge_reply as verdict
from tests.support.databases import database_url  # noqa: F401  (fixture)
from tests.unit.conftest import FakePool
from tests.unit.test_runtime import THREE_STEP_SKILL, FixedChooser

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:  # noqa: F811
    store = Store(database_url)
    yield store
    store.close()


def _runner(pool: FakePool, store: Store, tmp_path: Path, chooser: Any) -> Runner:
    settings = pool.settings(
        storage={
            "database_url": store.engine.url.render_as_string(hide_password=False),
            "chroma": str(tmp_path / "c"),
        },
        graphs=str(REPO / "langgraph.json"),
    )
    return Runner(settings, selector=chooser, recorder=SqlRunRecorder(store))


async def test_a_run_commits_once_per_step_and_never_on_the_loop(
    pool: FakePool, store: Store, tmp_path: Path
) -> None:
    pool.model("m1", content="member one says")
    pool.model("m2", content="member two says")
    pool.model("j", content=verdict(answer="the fused answer"))
    commits: list[int] = []  # the thread of each commit

    def on_commit(_connection: Any) -> None:
        commits.append(threading.get_ident())

    async with _runner(pool, store, tmp_path, FixedChooser(THREE_STEP_SKILL)) as runner:
        loop_thread = threading.get_ident()
        event.listen(store.engine, "commit", on_commit)
        try:
            result = await runner.run("assistant", "Review: SELECT * FROM t", user="alice")
        finally:
            event.remove(store.engine, "commit", on_commit)

    assert len(result.steps) == 3
    # start (before any model call) + one per step + finish; the skill rides along
    assert len(commits) == 1 + 3 + 1
    assert loop_thread not in commits
    detail = get_run(store, result.run_id)
    assert detail["status"] == "succeeded"
    assert detail["skill"] == {"name": "sql-review", "version": 3}
    assert [s["status"] for s in detail["steps"]] == ["succeeded"] * 3


async def test_the_chosen_skill_is_kept_when_the_first_step_fails(
    pool: FakePool, store: Store, tmp_path: Path
) -> None:
    pool.model("m1", status=500, error_message="boom one")
    pool.model("m2", status=500, error_message="boom two")
    pool.model("j", content=verdict(answer="never"))
    async with _runner(pool, store, tmp_path, FixedChooser(THREE_STEP_SKILL)) as runner:
        with pytest.raises(Exception, match="boom"):
            await runner.run("assistant", "Review: SELECT * FROM t", run_id="failing")
    detail = get_run(store, "failing")
    assert detail["status"] == "failed"
    assert detail["skill"] == {"name": "sql-review", "version": 3}
    assert [s["status"] for s in detail["steps"]] == ["failed"]


def test_a_step_mode_typo_fails_where_the_graph_is_written() -> None:
    with pytest.raises(UserError, match="'best-off' is not a fusion mode"):
        fuse_step("answer", "Answer briefly.", mode="best-off")


async def test_a_skill_step_with_an_unknown_mode_is_a_failed_step_on_record(
    pool: FakePool, store: Store, tmp_path: Path
) -> None:
    pool.model("m1", content="member one says")
    pool.model("m2", content="member two says")
    pool.model("j", content=verdict(answer="never"))
    steps = [{"name": "read", "instruction": "Read the query.", "mode": "best-off"}]
    skill = cast(SkillChoice, {**THREE_STEP_SKILL, "mode": None, "steps": steps})
    async with _runner(pool, store, tmp_path, FixedChooser(skill)) as runner:
        with pytest.raises(UserError, match="best-off"):
            await runner.run("assistant", "Review: SELECT * FROM t", run_id="typo")
    detail = get_run(store, "typo")
    assert detail["status"] == "failed"
    [step] = detail["steps"]
    assert step["status"] == "failed" and "best-off" in (step["error"] or "")
    assert not pool.behaviours["m1"].calls  # no model was called for it


async def test_a_cancelled_run_is_recorded_once_the_caller_is_gone(
    pool: FakePool, store: Store, tmp_path: Path
) -> None:
    pool.model("m1", content="slow one", delay_s=20)
    pool.model("m2", content="slow two", delay_s=20)
    pool.model("j", content=verdict(answer="never"))
    runner = _runner(pool, store, tmp_path, FixedChooser(THREE_STEP_SKILL))
    started = asyncio.Event()

    async def consume() -> None:
        async with runner:
            async for mode, chunk in runner.stream("assistant", "Hi", run_id="gone"):
                if mode == "custom" and isinstance(chunk, dict) and chunk.get("event") == "step":
                    started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    detail = get_run(store, "gone")
    assert detail["status"] == "cancelled"
    assert detail["skill"] == {"name": "sql-review", "version": 3}


def test_a_second_start_of_the_same_run_changes_nothing(store: Store) -> None:
    """A resumed thread or a re-run node starts a run that exists: one row, the first kept."""
    recorder = SqlRunRecorder(store)
    recorder.start("again", RunInfo("assistant", "acme", "u1", "t1", "first task", "key-1"))
    SqlRunRecorder(store).start("again", RunInfo("other", "evil", "u2", "t2", "second", "key-2"))
    with store.session() as session:
        [row] = session.exec(select(RunRow).where(RunRow.id == "again")).all()
    assert (row.graph, row.tenant, row.user_hash, row.task, row.api_key_id) == (
        "assistant",
        "acme",
        "u1",
        "first task",
        "key-1",
    )
    assert row.status == "running" and row.prompt_tokens == 0 and row.created_at is not None


async def test_a_step_is_stored_whole_with_its_candidates_verdict_and_totals(
    pool: FakePool, store: Store, tmp_path: Path
) -> None:
    pool.model("m1", content="member one says")
    pool.model("m2", status=500, error_message="boom two")
    pool.model("j", content=verdict(answer="the fused answer"))
    async with _runner(pool, store, tmp_path, FixedChooser(THREE_STEP_SKILL)) as runner:
        result = await runner.run("assistant", "Review: SELECT 1", user="bob", run_id="whole")
    with store.session() as session:
        run = session.get(RunRow, "whole")
        steps = session.exec(select(StepRow).where(StepRow.run_id == "whole")).all()
        step_ids = [s.id for s in steps]
        candidates = session.exec(
            select(CandidateRow).where(col(CandidateRow.step_id).in_(step_ids))
        ).all()
        verdicts = session.exec(
            select(VerdictRow).where(col(VerdictRow.step_id).in_(step_ids))
        ).all()
    assert run is not None and run.status == "succeeded" and run.answer == result.answer
    assert run.prompt_tokens == sum(s.prompt_tokens for s in steps) > 0
    assert [s.index for s in steps] == [0, 1, 2] and all(s.created_at for s in steps)
    assert all(s.degraded and s.degraded_reasons for s in steps)  # one member failed each step
    assert sorted((c.model, c.status) for c in candidates) == sorted(
        [("m1", "ok"), ("m2", "error")] * 3
    )
    # one answer left: the judge had nothing to weigh, and says so on record
    assert [(v.status, v.winner, v.degraded, v.scores) for v in verdicts] == [
        ("skipped", "m1", True, [])
    ] * 3


def test_row_values_fill_the_models_defaults_and_refuse_unknown_columns() -> None:
    steps = Rows(StepRow)
    row = steps.values(run_id="r", index=0, name="answer", status="succeeded")
    assert "id" not in row  # the database numbers it
    assert row["degraded"] is False and row["prompt_tokens"] == 0 and row["mode_choice"] is None
    assert row["degraded_reasons"] == [] and row["created_at"].tzinfo is not None
    other = steps.values(run_id="r", index=1, name="answer", status="succeeded")
    assert other["degraded_reasons"] is not row["degraded_reasons"]  # a new list per row
    with pytest.raises(TypeError, match="StepRow has no column"):
        steps.values(run_id="r", index=0, name="a", status="ok", colour="blue")

"""A caller that goes away mid-step: the step and the run are recorded as cancelled, not failed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from evofuse.errors import AllMembersFailedError
from evofuse.runtime.runner import Runner
from evofuse.store import Store
from evofuse.store.recorder import SqlRunRecorder
from evofuse.store.runs import RunRow, StepRow
from evofuse.testing import judge_reply
from tests.unit.conftest import FakePool

REPO = Path(__file__).resolve().parents[2]


async def test_a_cancelled_step_is_recorded_as_cancelled(pool: FakePool, tmp_path: Path) -> None:
    pool.model("m1", content="slow one", delay_s=20)
    pool.model("m2", content="slow two", delay_s=20)
    pool.model("j", content=judge_reply(answer="never"))
    store = Store(f"sqlite:///{tmp_path}/evofuse.db")
    settings = pool.settings(
        storage={"database_url": f"sqlite:///{tmp_path}/evofuse.db", "chroma": str(tmp_path)},
        graphs=str(REPO / "langgraph.json"),
    )
    runner = Runner(settings, recorder=SqlRunRecorder(store), checkpoints=False)
    step_started = asyncio.Event()

    async def consume() -> None:
        async with runner:
            async for mode, chunk in runner.stream("assistant", "What is 2+2?", run_id="r1"):
                chunk_: Any = chunk
                if mode == "custom" and chunk_.get("event") == "step":
                    step_started.set()

    task = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(step_started.wait(), timeout=30)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        with store.session() as session:
            run = session.get(RunRow, "r1")
            steps = session.exec(select(StepRow).where(StepRow.run_id == "r1")).all()
        assert run is not None and run.status == "cancelled"
        assert [(s.status, s.error) for s in steps] == [
            ("cancelled", "the caller cancelled the run")
        ]
    finally:
        if not task.done():
            task.cancel()
        store.close()


async def test_a_failing_step_is_still_recorded_as_failed(pool: FakePool, tmp_path: Path) -> None:
    pool.model("m1", status=500, error_message="boom one")
    pool.model("m2", status=500, error_message="boom two")
    pool.model("j", content=judge_reply(answer="never"))
    store = Store(f"sqlite:///{tmp_path}/evofuse.db")
    settings = pool.settings(
        storage={"database_url": f"sqlite:///{tmp_path}/evofuse.db", "chroma": str(tmp_path)},
        graphs=str(REPO / "langgraph.json"),
    )
    try:
        async with Runner(settings, recorder=SqlRunRecorder(store), checkpoints=False) as runner:
            with pytest.raises(AllMembersFailedError):
                await runner.run("assistant", "What is 2+2?", run_id="r2")
        with store.session() as session:
            steps = session.exec(select(StepRow).where(StepRow.run_id == "r2")).all()
        assert [s.status for s in steps] == ["failed"] and "boom" in (steps[0].error or "")
    finally:
        store.close()

"""How fusion failures are recorded: a judge that runs out of time is a `timeout`, not an error."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from evofuse.ports import RunInfo
from evofuse.store import Store
from evofuse.store.recorder import SqlRunRecorder
from evofuse.store.runs import VerdictRow
from tests.support.fake_openai import verdict
from tests.unit.conftest import FakePool

USER = [{"role": "user", "content": "What is 2+2?"}]
TIMEOUT_S = 0.4


async def test_a_judge_that_times_out_is_recorded_as_timeout_with_its_latency(
    pool: FakePool, tmp_path: Path
) -> None:
    pool.model("m1", content="Four.")
    pool.model("m2", content="It is 4.")
    pool.model("j", content=verdict(answer="never seen"), delay_s=3)
    result = await pool.engine({"timeout_s": TIMEOUT_S}).run(USER)

    judge = result.judge
    assert judge.status == "timeout" and judge.fallback_rule
    assert judge.latency_ms >= TIMEOUT_S * 1000 * 0.9  # the time it was waited for, not 0
    assert judge.latency_ms < 2500  # ... and no more than the timeout allows
    assert "0.4" in (judge.error or "")
    assert result.content in {"Four.", "It is 4."}  # the documented rule still answers

    store = Store(f"sqlite:///{tmp_path}/evofuse.db")
    try:
        recorder = SqlRunRecorder(store)
        recorder.start("r1", RunInfo(graph_id="fusion/p"))
        recorder.step_finished("r1", 0, "answer", result)
        with store.session() as session:
            row = session.exec(select(VerdictRow)).one()
        assert row.status == "timeout" and row.latency_ms == judge.latency_ms
    finally:
        store.close()


async def test_judge_and_fallback_both_timing_out_is_a_timeout(pool: FakePool) -> None:
    pool.model("m1", content="Four.")
    pool.model("m2", content="It is 4.")
    pool.model("j", content=verdict(answer="late"), delay_s=3)
    pool.model("fj", content=verdict(answer="late too"), delay_s=3)
    result = await pool.engine({"timeout_s": TIMEOUT_S}).run(USER)
    assert result.judge.status == "timeout"
    assert result.judge.latency_ms >= 2 * TIMEOUT_S * 1000 * 0.9  # both were waited for


async def test_a_timeout_then_a_broken_fallback_is_an_error(pool: FakePool) -> None:
    pool.model("m1", content="Four.")
    pool.model("m2", content="It is 4.")
    pool.model("j", content=verdict(answer="late"), delay_s=3)
    pool.model("fj", status=500, error_message="fallback down")
    result = await pool.engine({"timeout_s": TIMEOUT_S}).run(USER)
    assert result.judge.status == "error" and result.judge.latency_ms >= TIMEOUT_S * 1000 * 0.9
    assert "fallback down" in (result.judge.error or "")

"""Sharp edges of fusion, as recorded: judge timeouts, lone debaters, prompt versions."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from evofuse.ports import RunInfo
from evofuse.store import Store
from evofuse.store.recorder import SqlRunRecorder
from evofuse.store.runs import StepRow, VerdictRow
from evofuse.testing import judge_reply
from tests.unit.conftest import FakePool

USER = [{"role": "user", "content": "What is 2+2?"}]
TIMEOUT_S = 0.4


async def test_a_judge_that_times_out_is_recorded_as_timeout_with_its_latency(
    pool: FakePool, tmp_path: Path
) -> None:
    pool.model("m1", content="Four.")
    pool.model("m2", content="It is 4.")
    pool.model("j", content=judge_reply(answer="never seen"), delay_s=3)
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
    pool.model("j", content=judge_reply(answer="late"), delay_s=3)
    pool.model("fj", content=judge_reply(answer="late too"), delay_s=3)
    result = await pool.engine({"timeout_s": TIMEOUT_S}).run(USER)
    assert result.judge.status == "timeout"
    assert result.judge.latency_ms >= 2 * TIMEOUT_S * 1000 * 0.9  # both were waited for


async def test_a_timeout_then_a_broken_fallback_is_an_error(pool: FakePool) -> None:
    pool.model("m1", content="Four.")
    pool.model("m2", content="It is 4.")
    pool.model("j", content=judge_reply(answer="late"), delay_s=3)
    pool.model("fj", status=500, error_message="fallback down")
    result = await pool.engine({"timeout_s": TIMEOUT_S}).run(USER)
    assert result.judge.status == "error" and result.judge.latency_ms >= TIMEOUT_S * 1000 * 0.9
    assert "fallback down" in (result.judge.error or "")


async def test_debate_with_one_surviving_member_pays_for_no_revision_round(
    pool: FakePool,
) -> None:
    survivor = pool.model("m1", content="Four.")
    pool.model("m2", status=500, error_message="down")
    pool.model("m3", status=500, error_message="down too")
    judge = pool.model("j", content=judge_reply(answer="never asked"))
    result = await pool.engine({"mode": "debate", "debate_rounds": 2}).run(USER)

    assert len(survivor.calls) == 1  # its first answer only: nobody to debate with
    assert judge.calls == []  # and nothing to judge
    assert [len(r) for r in result.debate_rounds] == [3]  # the first round, no revisions
    assert result.content == "Four." and result.judge.status == "skipped"
    assert any("no revision rounds" in r for r in result.degraded_reasons)
    assert "debate_revise.v1" not in result.prompt_versions


async def test_debate_with_two_survivors_still_revises(pool: FakePool) -> None:
    first = pool.model("m1", content="Four.")
    pool.model("m2", content="It is 4.")
    pool.model("m3", status=500, error_message="down")
    pool.model("j", content=judge_reply(answer="4"))
    result = await pool.engine({"mode": "debate", "debate_rounds": 2}).run(USER)
    assert len(first.calls) == 3  # the first answer and two revisions
    assert [len(r) for r in result.debate_rounds] == [3, 2, 2]
    assert result.judge.status == "ok"


async def test_each_result_records_the_judge_and_judge_input_prompt_versions(
    pool: FakePool, tmp_path: Path
) -> None:
    pool.model("m1", content="Four.")
    pool.model("m2", content="It is 4.")
    pool.model("j", content=judge_reply(answer="4"))
    result = await pool.engine({"mode": "merge"}).run(USER)
    assert result.prompt_versions == ["judge_merge.v1", "judge_input.v1"]
    assert result.judge.prompt_version == "judge_merge.v1"

    store = Store(f"sqlite:///{tmp_path}/evofuse.db")
    try:
        recorder = SqlRunRecorder(store)
        recorder.start("r1", RunInfo(graph_id="fusion/p"))
        recorder.step_finished("r1", 0, "answer", result)
        with store.session() as session:
            step = session.exec(select(StepRow)).one()
        assert step.prompt_versions == ["judge_merge.v1", "judge_input.v1"]
    finally:
        store.close()

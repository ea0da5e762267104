"""The evaluation harness over fake models: accuracy, pairing, cost, calls, auto, failures."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from evofuse.errors import UserError
from evofuse.eval import evaluate, load_suite
from evofuse.eval.harness import parse_modes
from evofuse.testing import judge_reply
from tests.unit.conftest import FakePool

# Ten tasks "What is N + 1?"; the expected answer is N + 1.
TASKS = [{"question": f"What is {n} + 1?", "answer": n + 1, "check": "number"} for n in range(10)]


def suite_file(tmp_path: Path) -> str:
    path = tmp_path / "plus.jsonl"
    path.write_text("\n".join(json.dumps(t) for t in TASKS) + "\n", encoding="utf-8")
    return str(path)


def solver(wrong_when: set[int]):  # type: ignore[no-untyped-def]
    """A fake model that adds one, except for the given N, where it is off by one."""

    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        n = int(re.findall(r"What is (\d+) \+ 1", text)[0])
        return f"Adding one.\nAnswer: {n + 1 + (n in wrong_when)}"

    return reply


async def test_every_mode_is_scored_and_compared_with_the_best_single(
    pool: FakePool, tmp_path: Path
) -> None:
    pool.model("m1", content=solver({0, 1, 2}))  # 7/10
    pool.model("m2", content=solver({3, 4}))  # 8/10: the baseline
    pool.model("m3", content=solver({5, 6, 7, 8, 9}))  # 5/10
    judge = pool.model("j", content=judge_reply(winner="first"))
    settings = pool.settings({"mode": "merge"})
    seen = []
    report = await evaluate(
        settings,
        load_suite(suite_file(tmp_path)),
        parse_modes("single,vote,best-of"),
        seed=3,
        concurrency=3,
        progress=lambda arm, attempt: seen.append((arm.name, attempt.item.id)),
    )
    arms = {a.arm: a for a in report.arms}
    assert list(arms) == ["single:m1", "single:m2", "single:m3", "vote", "best-of"]
    assert len(seen) == 5 * 10
    assert report.baseline == "single:m2" and report.tasks == 10
    assert [arms[f"single:m{i}"].correct for i in (1, 2, 3)] == [7, 8, 5]
    assert arms["single:m2"].vs_baseline is None
    assert arms["single:m1"].wrong == ["line-1", "line-2", "line-3"]
    # each task has a majority of right answers (at most one member is wrong on any task)
    vote = arms["vote"]
    assert vote.correct == 10 and vote.accuracy == 1.0
    assert vote.vs_baseline is not None
    assert (vote.vs_baseline.wins, vote.vs_baseline.losses) == (2, 0)
    assert vote.vs_baseline.p_value == pytest.approx(0.5)
    assert vote.ci95[0] == pytest.approx(0.722467, abs=1e-5)
    assert vote.calls == 30 and vote.calls_per_task == 3
    assert arms["best-of"].calls == 40 and len(judge.calls) == 10
    assert arms["single:m1"].calls == 10
    assert all(a.cost_usd and a.cost_usd > 0 for a in report.arms)
    assert arms["vote"].cost_usd == pytest.approx(
        sum(arms[f"single:m{i}"].cost_usd or 0 for i in (1, 2, 3)), rel=0.01
    )
    assert all(a.latency_ms_p50 is not None and a.latency_ms_p95 is not None for a in report.arms)
    assert arms["single:m3"].latency_ms_p95 >= arms["single:m3"].latency_ms_p50  # type: ignore[operator]


async def test_auto_learns_from_its_own_checked_answers(pool: FakePool, tmp_path: Path) -> None:
    pool.model("m1", content=solver(set(range(0, 10, 2))))
    pool.model("m2", content=solver(set(range(1, 10, 2))))
    pool.model("m3", content=solver(set()))
    pool.model("j", content=judge_reply(winner="first"))
    suite = load_suite(suite_file(tmp_path))
    first = await evaluate(pool.settings(), suite, ["auto"], seed=5, concurrency=2)
    again = await evaluate(pool.settings(), suite, ["auto"], seed=5, concurrency=2)
    auto = first.arms[0]
    assert first.baseline is None and auto.vs_baseline is None
    assert sum(auto.chosen_modes.values()) == 10
    # warm-up: two tasks per mode, cheapest first; batches of two are chosen together
    assert auto.chosen_modes["single"] >= 2 and auto.chosen_modes["vote"] >= 2
    assert auto.chosen_modes == again.arms[0].chosen_modes, "the same seed, the same choices"


async def test_a_failing_step_counts_as_wrong_and_is_reported(
    pool: FakePool, tmp_path: Path
) -> None:
    pool.model("m1", status=500, error_message="down")
    pool.model("m2", content=solver(set()))
    pool.model("j", content=judge_reply(winner="first"))
    report = await evaluate(
        pool.settings(), load_suite(suite_file(tmp_path), n=4), ["single"], concurrency=4
    )
    broken = report.arms[0]
    assert broken.arm == "single:m1" and broken.errors == 4 and broken.correct == 0
    assert broken.latency_ms_p50 is None and broken.calls == 4
    assert report.baseline == "single:m2"
    assert broken.vs_baseline is not None and broken.vs_baseline.losses == 4


async def test_bad_requests_fail_before_any_call(pool: FakePool, tmp_path: Path) -> None:
    m1 = pool.model("m1", content="x")
    pool.model("m2", content="y")
    pool.model("j", content=judge_reply(winner="first"))
    suite = load_suite(suite_file(tmp_path))
    with pytest.raises(UserError, match="Unknown mode 'majority'"):
        parse_modes("single,majority")
    with pytest.raises(UserError, match="--modes is empty"):
        parse_modes(" , ")
    with pytest.raises(UserError, match="needs a judge"):
        await evaluate(pool.settings({"mode": "vote", "judge": None}), suite, ["vote", "merge"])
    with pytest.raises(UserError, match="Unknown fusion profile"):
        await evaluate(pool.settings(), suite, ["vote"], profile="nope")
    assert not m1.calls


def test_run_eval_from_synchronous_code(pool: FakePool, tmp_path: Path) -> None:
    from evofuse.eval import run_eval

    pool.model("m1", content=solver({0}))
    pool.model("m2", content=solver(set()))
    pool.model("j", content=judge_reply(winner="first"))
    report = run_eval(pool.settings(), load_suite(suite_file(tmp_path), n=3), ["single", "vote"])
    # task 0 splits the vote one to one: the tie goes to m1, listed first, which is wrong there
    assert [(a.arm, a.correct) for a in report.arms] == [
        ("single:m1", 2),
        ("single:m2", 3),
        ("vote", 2),
    ]
    assert report.arms[2].wrong == ["line-1"]


async def test_auto_steps_that_fail_are_counted_as_failed_not_as_a_mode(
    pool: FakePool, tmp_path: Path
) -> None:
    pool.model("m1", status=401)  # errors that are not retried keep the test quick
    pool.model("m2", status=400)
    pool.model("j", content=judge_reply(winner="first"))
    report = await evaluate(
        pool.settings(), load_suite(suite_file(tmp_path), n=3), ["auto"], concurrency=3
    )
    auto = report.arms[0]
    assert auto.chosen_modes == {"failed": 3} and auto.errors == 3 and auto.correct == 0

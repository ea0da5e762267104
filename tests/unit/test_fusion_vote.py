"""Mode `vote`: the members' most common final answer, no judge call; ties by pool order."""

from __future__ import annotations

import pytest

from evofuse.fusion.types import CandidateResult
from evofuse.fusion.vote import TIE_RULE, final_segment, tally, vote_key
from evofuse.options import FusionOptions
from evofuse.testing import judge_reply
from tests.unit.conftest import FakePool

USER = [{"role": "user", "content": "What is 2+2?"}]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("The answer is 4.", "4"),
        ("2 + 2 makes four, so\nAnswer: **4**", "Answer: 4"),
        ("Answer: 1,000", "1000"),
        ("Final answer: Paris.", "paris"),
        ("  - 4.0", "4"),
    ],
)
def test_equivalent_answers_share_a_key(a: str, b: str) -> None:
    assert vote_key(a) == vote_key(b)


@pytest.mark.parametrize(("a", "b"), [("Answer: 4", "Answer: -4"), ("Paris", "Lyon")])
def test_different_answers_do_not(a: str, b: str) -> None:
    assert vote_key(a) != vote_key(b)


def test_long_prose_is_not_reduced_to_its_last_number() -> None:
    prose = "There were many reasons over the years and decades and it ended in 1945 or so really"
    assert vote_key(prose) == final_segment(prose).lower()


def cand(model: str, content: str | None, status: str = "ok") -> CandidateResult:
    return CandidateResult(model=model, status=status, content=content, latency_ms=1.0)  # type: ignore[arg-type]


def test_majority_wins_and_the_first_holder_in_pool_order_answers() -> None:
    result = tally(
        [cand("c", "Answer: 5"), cand("b", "It is 4"), cand("a", "Answer: 4")],
        pool_order=["a", "b", "c"],
    )
    assert (result.key, result.votes, result.voters) == ("4", 2, 3)
    assert result.winner.model == "a" and not result.tie
    assert result.counts == {"4": 2, "5": 1}
    assert "2 of 3 answers agree on '4'" in result.rationale


def test_a_tie_goes_to_the_member_listed_first() -> None:
    candidates = [cand("a", "Answer: 7"), cand("b", "Answer: 8")]
    assert tally(candidates, ["b", "a"]).winner.model == "b"
    result = tally(candidates, ["a", "b"])
    assert result.winner.model == "a" and result.tie and TIE_RULE in result.rationale


def test_failed_members_do_not_vote() -> None:
    result = tally(
        [cand("a", None, "error"), cand("b", "Answer: 3"), cand("c", None, "timeout")],
        ["a", "b", "c"],
    )
    assert result.winner.model == "b" and result.voters == 1
    with pytest.raises(ValueError):
        tally([cand("a", None, "error")], ["a"])


async def test_vote_mode_makes_no_judge_call(pool: FakePool) -> None:
    pool.model("m1", content="I think 5.\nAnswer: 5")
    pool.model("m2", content="Answer: 4")
    pool.model("m3", content="The answer is 4.")
    judge = pool.model("j", content=judge_reply(answer="never asked"))
    result = await pool.engine({"mode": "vote"}).run(USER, FusionOptions(seed=1))
    assert not judge.calls
    assert result.mode == "vote" and result.content == "Answer: 4"
    assert result.judge.model is None and result.judge.status == "skipped"
    assert result.judge.winner == "m2" and "2 of 3" in (result.judge.rationale or "")
    # three member calls priced, no judge
    assert result.cost_usd == pytest.approx(sum(c.cost_usd or 0 for c in result.candidates))


async def test_vote_needs_no_judge_in_the_profile(pool: FakePool) -> None:
    pool.model("m1", content="Answer: 4")
    pool.model("m2", content="Answer: 5")
    result = await pool.engine({"mode": "vote", "judge": None}).run(USER)
    assert result.content == "Answer: 4" and "tie" in (result.judge.rationale or "")


async def test_vote_with_failures_counts_the_survivors(pool: FakePool) -> None:
    pool.model("m1", status=500)
    pool.model("m2", content="Answer: 5")
    pool.model("m3", content="Answer: 5")
    pool.model("j", content=judge_reply(answer="x"))
    result = await pool.engine({"mode": "vote"}).run(USER)
    assert result.content == "Answer: 5" and result.degraded

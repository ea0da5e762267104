"""The fusion engine at the HTTP boundary: modes, failures, fallbacks, accounting, streaming."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evofuse.errors import (
    AllMembersFailedError,
    BudgetExceededError,
    UnknownProfileError,
    UserError,
)
from evofuse.fusion import AnswerDelta, AnswerReset, FusionResult, MemberFinished
from evofuse.options import FusionOptions, ModelSettings
from evofuse.testing import candidate_labels, judge_reply
from evofuse.testing.replies import usage
from tests.unit.conftest import SECRET, FakePool

USER = [{"role": "user", "content": "What is 2+2?"}]


async def test_merge_returns_judge_synthesis_and_accounts_every_call(pool: FakePool) -> None:
    texts = {"m1": "4", "m2": "four", "m3": "2+2=4"}
    members = {name: pool.model(name, content=text) for name, text in texts.items()}
    reply = judge_reply(answer="The answer is 4.")
    judge = pool.model("j", content=reply)
    result = await pool.engine().run(USER, FusionOptions(seed=7))
    assert not judge.calls[0].get("stream"), "run() has no reader for deltas: no judge stream"

    assert result.content == "The answer is 4."
    assert result.mode == "merge"
    assert {c.model for c in result.candidates} == {"m1", "m2", "m3"}
    # Tokens as the upstream counted them in each completion's usage (4 characters a token).
    counted = {m: usage(fake.calls[0], texts[m]) for m, fake in members.items()}
    for c in result.candidates:
        assert c.status == "ok"
        assert (c.prompt_tokens, c.completion_tokens) == (
            counted[c.model]["prompt_tokens"],
            counted[c.model]["completion_tokens"],
        )
    # gpt-4o-mini is in LiteLLM's price map: each call is priced, the step sums them
    assert all(c.cost_usd and c.cost_usd > 0 for c in result.candidates)
    assert result.judge.status == "ok" and result.judge.cost_usd and result.judge.cost_usd > 0
    expected = sum(c.cost_usd or 0 for c in result.candidates) + (result.judge.cost_usd or 0)
    assert result.cost_usd == pytest.approx(expected)
    # run() calls the judge without streaming: its usage comes from the completion body
    judged = usage(judge.calls[0], reply(judge.calls[0]))
    assert (
        result.prompt_tokens
        == sum(u["prompt_tokens"] for u in counted.values()) + judged["prompt_tokens"]
    )
    assert (
        result.completion_tokens
        == sum(u["completion_tokens"] for u in counted.values()) + judged["completion_tokens"]
    )
    assert not result.degraded
    assert result.prompt_versions == ["judge_merge.v1", "judge_input.v1"]


async def test_best_of_returns_the_winning_candidate_verbatim(pool: FakePool) -> None:
    pool.model("m1", content="alpha answer")
    pool.model("m2", content="beta answer")
    judge = pool.model("j", content=judge_reply(winner="last"))
    result = await pool.engine({"mode": "best-of"}).run(USER, FusionOptions(seed=3))

    winner = result.judge.order[-1]
    assert result.judge.winner == winner
    assert result.content == {"m1": "alpha answer", "m2": "beta answer"}[winner]
    assert {s.model for s in result.judge.scores} == {"m1", "m2"}
    # best-of asks for a verdict without an answer field, non-streaming
    sent = judge.calls[0]
    assert not sent.get("stream")
    assert "answer" not in sent["response_format"]["json_schema"]["schema"]["properties"]


async def test_judge_sees_anonymized_shuffled_candidates(pool: FakePool) -> None:
    pool.model("m1", content="answer one")
    pool.model("m2", content="answer two")
    pool.model("m3", content="answer three")
    judge = pool.model("j", content=judge_reply(answer="merged"))
    orders = set()
    for seed in range(8):
        result = await pool.engine().run(USER, FusionOptions(seed=seed))
        orders.add(tuple(result.judge.order))
        assert result.judge.seed == seed
    text = json.dumps(judge.calls[-1]["messages"])
    assert "m1" not in text and "m2" not in text and "gpt-4o" not in text
    assert len(orders) > 1, "the candidate order must depend on the seed"
    # the same seed gives the same order: a verdict can be reproduced
    again = await pool.engine().run(USER, FusionOptions(seed=0))
    first = await pool.engine().run(USER, FusionOptions(seed=0))
    assert again.judge.order == first.judge.order


async def test_multi_turn_messages_and_instructions_reach_every_member(pool: FakePool) -> None:
    members = [pool.model(n, content=f"from {n}") for n in ("m1", "m2")]
    pool.model("j", content=judge_reply(answer="ok"))
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "7"},
        {"role": "user", "content": "Another one?"},
    ]
    await pool.engine().run(conversation, instructions="Skill: answer with digits only.")
    for member in members:
        sent = member.calls[0]["messages"]
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
        assert sent[0]["content"] == "Be brief.\n\nSkill: answer with digits only."
        assert sent[-1]["content"] == "Another one?"


async def test_debate_members_see_each_others_answers_anonymized(pool: FakePool) -> None:
    m1 = pool.model("m1", content="first try 1")
    m2 = pool.model("m2", content="first try 2")
    pool.model("j", content=judge_reply(answer="final"))
    result = await pool.engine({"mode": "debate", "debate_rounds": 2}).run(
        USER, FusionOptions(seed=1)
    )

    assert result.content == "final"
    assert len(m1.calls) == 3 and len(m2.calls) == 3  # first answers + 2 revision rounds
    revision = m1.calls[1]["messages"][-1]["content"]
    assert "first try 2" in revision and "m2" not in revision
    assert [len(r) for r in result.debate_rounds] == [2, 2, 2]
    cand = next(c for c in result.candidates if c.model == "m1")
    # totals over the rounds
    assert cand.round == 2
    assert cand.prompt_tokens == sum(usage(call, "")["prompt_tokens"] for call in m1.calls)
    assert "debate_revise.v1" in result.prompt_versions


async def test_single_mode_calls_one_model_and_no_judge(pool: FakePool) -> None:
    m1 = pool.model("m1", content="solo")
    m2 = pool.model("m2", content="unused")
    result = await pool.engine({"mode": "single", "judge": None}).run(USER)
    assert result.content == "solo" and result.judge.status == "skipped"
    assert len(m1.calls) == 1 and not m2.calls


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
async def test_a_failing_member_does_not_fail_the_step(pool: FakePool, status: int) -> None:
    pool.model("m1", content="good")
    pool.model("m2", status=status, error_message=f"bad thing, key {SECRET}")
    pool.model("m3", content="also good")
    pool.model("j", content=judge_reply(answer="merged"))
    result = await pool.engine().run(USER)

    failed = next(c for c in result.candidates if c.model == "m2")
    assert failed.status == "error"
    assert failed.error and str(status) in failed.error
    assert SECRET not in failed.error and "[REDACTED]" in failed.error
    assert result.content == "merged" and result.degraded
    assert len(result.judge.order) == 2  # the judge only saw the survivors


async def test_malformed_provider_response_marks_the_member_error(pool: FakePool) -> None:
    pool.model("m1", content="good")
    pool.model("m2", raw="<html>502 Bad Gateway</html>")
    pool.model("m3", raw=json.dumps({"choices": []}))
    pool.model("j", content=judge_reply(answer="merged"))
    result = await pool.engine().run(USER)
    statuses = {c.model: c.status for c in result.candidates}
    assert statuses == {"m1": "ok", "m2": "error", "m3": "error"}
    # one survivor: nothing to judge, its answer is returned and the result says why
    assert result.content == "good" and result.judge.status == "skipped"
    assert any("only m1 answered" in r for r in result.degraded_reasons)


async def test_empty_answer_is_an_error_not_a_candidate(pool: FakePool) -> None:
    pool.model("m1", content="")
    pool.model("m2", content="real")
    pool.model("j", content=judge_reply(answer="x"))
    result = await pool.engine().run(USER)
    empty = next(c for c in result.candidates if c.model == "m1")
    assert empty.status == "error" and "empty" in (empty.error or "")


async def test_member_timeout(pool: FakePool) -> None:
    pool.model("m1", content="quick")
    pool.model("m2", content="slow", delay_s=3)
    pool.model("m3", content="quick too")
    pool.model("j", content=judge_reply(answer="merged"))
    result = await pool.engine({"timeout_s": 0.3}).run(USER)
    slow = next(c for c in result.candidates if c.model == "m2")
    assert slow.status == "timeout" and "0.3" in (slow.error or "")
    assert result.latency_ms < 2500


async def test_quorum_and_grace_cancel_the_straggler(pool: FakePool) -> None:
    pool.model("m1", content="fast", delay_s=0.05)
    pool.model("m2", content="medium", delay_s=0.1)
    pool.model("m3", content="straggler", delay_s=5)
    pool.model("j", content=judge_reply(answer="merged"))
    result = await pool.engine({"quorum": 2, "grace_s": 0.2, "timeout_s": 10}).run(USER)
    statuses = {c.model: c.status for c in result.candidates}
    assert statuses == {"m1": "ok", "m2": "ok", "m3": "cancelled"}
    assert result.latency_ms < 2000
    assert "quorum" in (next(c for c in result.candidates if c.model == "m3").error or "")


async def test_all_members_failing_raises_with_every_failure(pool: FakePool) -> None:
    pool.model("m1", status=500, error_message="boom one")
    pool.model("m2", status=401, error_message="bad key")
    pool.model("j", content=judge_reply(answer="never"))
    with pytest.raises(AllMembersFailedError) as caught:
        await pool.engine().run(USER)
    assert [f.model for f in caught.value.failures] == ["m1", "m2"] or {
        f.model for f in caught.value.failures
    } == {"m1", "m2"}
    assert "boom one" in str(caught.value) and "bad key" in str(caught.value)


async def test_unparseable_judge_uses_fallback_judge(pool: FakePool) -> None:
    pool.model("m1", content="a")
    pool.model("m2", content="b")
    pool.model("j", content="I think they are both nice!")
    pool.model("fj", content=judge_reply(answer="fallback merged"))
    result = await pool.engine().run(USER)
    assert result.content == "fallback merged"
    assert result.judge.model == "fj" and result.judge.status == "ok"
    assert result.degraded and any("fallback_judge fj" in r for r in result.degraded_reasons)
    assert "no JSON" in (result.judge.error or "")


async def test_judge_failure_without_fallback_uses_documented_rule(pool: FakePool) -> None:
    pool.model("m1", content="Paris is the capital of France")
    pool.model("m2", content="The capital of France is Paris")
    pool.model("m3", content="Bananas are yellow")
    pool.model("j", status=500)
    result = await pool.engine().run(USER)
    assert result.judge.status == "error" and result.judge.fallback_rule
    assert result.judge.winner in {"m1", "m2"}  # the consensus answer, not the outlier
    assert result.content != "Bananas are yellow"
    assert result.degraded


async def test_judge_naming_a_missing_label_is_rejected(pool: FakePool) -> None:
    pool.model("m1", content="a")
    pool.model("m2", content="b")
    pool.model("j", content=judge_reply(winner="Z", answer="x"))
    result = await pool.engine({"mode": "best-of"}).run(USER)
    assert result.judge.fallback_rule and "winner 'Z'" in (result.judge.error or "")


async def test_unknown_price_is_null_not_zero(pool: FakePool) -> None:
    pool.model("m1", content="a")
    pool.model("m2", content="b")
    pool.model("j", content=judge_reply(answer="x"))
    result = await pool.engine(priced=False).run(USER)
    assert all(c.cost_usd is None for c in result.candidates)
    assert result.judge.cost_usd is None and result.cost_usd is None


async def test_budget_refuses_a_request_that_cannot_fit(pool: FakePool) -> None:
    m1 = pool.model("m1", content="a")
    pool.model("m2", content="b")
    pool.model("j", content=judge_reply(answer="x"))
    engine = pool.engine({"max_cost_usd": 0.001})
    with pytest.raises(BudgetExceededError) as caught:
        await engine.run(USER, FusionOptions(sampling=ModelSettings(max_tokens=4000)))
    assert "max_cost_usd" in str(caught.value) and caught.value.hint
    assert not m1.calls, "nothing may be dispatched for a refused request"
    # a small enough request fits the same budget
    result = await engine.run(USER, FusionOptions(sampling=ModelSettings(max_tokens=20)))
    assert result.content == "x"


async def test_streaming_merge_yields_deltas_then_result(pool: FakePool) -> None:
    pool.model("m1", content="a")
    pool.model("m2", content="b")
    answer = 'A "quoted" answer,\nwith a newline and unicode: café.'
    judge = pool.model("j", content=judge_reply(answer=answer))
    items = [item async for item in pool.engine().stream(USER)]
    deltas = [i for i in items if isinstance(i, str)]
    result = items[-1]
    assert isinstance(result, FusionResult)
    assert not result.degraded, result.degraded_reasons
    assert "".join(deltas) == answer == result.content
    assert len(deltas) > 1, "the judge's answer should arrive in pieces"
    assert judge.calls[0]["stream"] is True


async def test_judge_breaking_mid_stream_resets_and_falls_back(pool: FakePool) -> None:
    pool.model("m1", content="a")
    pool.model("m2", content="b")

    def truncated(body: dict[str, Any]) -> str:
        labels = candidate_labels(body)
        return (
            '{"scores": [], "winner": "' + labels[0] + '", "rationale": "r", "answer": "half an ans'
        )

    pool.model("j", content=truncated)
    pool.model("fj", content=judge_reply(answer="complete answer"))
    events = [e async for e in pool.engine().events(USER)]
    kinds = [type(e).__name__ for e in events]
    assert "AnswerReset" in kinds
    after_reset = events[kinds.index("AnswerReset") + 1 :]
    text = "".join(e.text for e in after_reset if isinstance(e, AnswerDelta))
    assert text == "complete answer"
    assert isinstance(events[-1].result, FusionResult)  # type: ignore[union-attr]
    assert events[-1].result.content == "complete answer"  # type: ignore[union-attr]
    assert not any(isinstance(e, AnswerReset) for e in events[: kinds.index("AnswerReset")])
    assert sum(isinstance(e, MemberFinished) for e in events) == 2


async def test_per_call_overrides(pool: FakePool) -> None:
    m1 = pool.model("m1", content="a")
    m2 = pool.model("m2", content="b")
    m3 = pool.model("m3", content="c")
    pool.model("j", content=judge_reply())
    result = await pool.engine().run(USER, FusionOptions(mode="best-of", models=("m1", "m3")))
    assert result.mode == "best-of" and {c.model for c in result.candidates} == {"m1", "m3"}
    assert m1.calls and m3.calls and not m2.calls


async def test_bad_requests_are_user_errors(pool: FakePool) -> None:
    pool.model("m1", content="a")
    pool.model("m2", content="b")
    pool.model("j", content=judge_reply(answer="x"))
    engine = pool.engine()
    with pytest.raises(UnknownProfileError):
        await engine.run(USER, FusionOptions(profile="nope"))
    with pytest.raises(UserError, match="mode"):
        await engine.run(USER, FusionOptions.parse({"mode": "majority"}))
    with pytest.raises(UserError, match="'zz' is not a model_name"):
        await engine.run(USER, FusionOptions(models=("zz",)))
    with pytest.raises(UserError, match="empty"):
        await engine.run([])
    with pytest.raises(UserError, match=r"messages\[0\].role"):
        await engine.run([{"role": "robot", "content": "x"}])

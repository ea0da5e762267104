"""Held-out replay: the candidate and the current skill answer the same unseen tasks, judged blind.

Each task is answered once with the candidate and once with the current version (or with no
skill, for a new skill or a retirement), then judged twice with the two answers in swapped
order, so a judge that prefers a position cancels itself out. A task whose two judgments name
the same answer is a win or a loss; split verdicts and ties count as ties, unparseable verdicts
as invalid. The candidate passes when (wins - losses) / tasks reaches the margin.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from evofuse.evolution.prompts import load_prompt
from evofuse.evolution.report import ReplayJudgment, ReplayResult
from evofuse.evolution.structured import data_block, replay_judge_schema
from evofuse.evolution.thinker import Thinker, UnparseableAnswer
from evofuse.skills.spec import SkillSpec

_CONCURRENCY = 4  # tasks replayed at once; the fusion engine already fans out per call

Verdict = Literal["1", "2", "tie", "invalid"]


async def replay(
    thinker: Thinker,
    tasks: list[tuple[str, str]],
    candidate: SkillSpec | None,
    current: SkillSpec | None,
) -> tuple[ReplayResult, float]:
    """`tasks` are (id, scrubbed text); returns the result and what it cost."""
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def one(task_id: str, text: str) -> tuple[list[ReplayJudgment], float]:
        async with limit:
            (new, c1), (old, c2) = await asyncio.gather(
                thinker.answer(text, candidate), thinker.answer(text, current)
            )
            (first, c3), (second, c4) = await asyncio.gather(
                _judge(thinker, text, new, old), _judge(thinker, text, old, new)
            )
        return [
            ReplayJudgment(task=task_id, candidate_first=True, **_outcome(first, True)),
            ReplayJudgment(task=task_id, candidate_first=False, **_outcome(second, False)),
        ], c1 + c2 + c3 + c4

    done = await asyncio.gather(*(one(i, t) for i, t in tasks))
    judgments = [j for pair, _ in done for j in pair]
    cost = sum(c for _, c in done)
    wins = losses = ties = invalid = 0
    for a, b in zip(judgments[::2], judgments[1::2], strict=True):
        pair = {a.winner, b.winner}
        if "invalid" in pair:
            invalid += 1
        elif pair == {"candidate"}:
            wins += 1
        elif pair == {"current"}:
            losses += 1
        else:
            ties += 1  # a tie, or each order won by whoever came first: position bias
    total = max(1, len(tasks))
    result = ReplayResult(
        tasks=len(tasks),
        wins=wins,
        losses=losses,
        ties=ties,
        invalid=invalid,
        net=round((wins - losses) / total, 4),
        judgments=judgments,
    )
    return result, cost


async def _judge(thinker: Thinker, task: str, first: str, second: str) -> tuple[Verdict, float]:
    template = load_prompt("replay_judge")
    prompt = template.render(
        task=data_block("task", task),
        first=data_block("answer_1", first),
        second=data_block("answer_2", second),
    )
    try:
        answer, cost = await thinker.decide(
            prompt,
            what="a replay judgment",
            prompt_id=template.id,
            schema=replay_judge_schema(),
            schema_name="replay_verdict",
        )
    except UnparseableAnswer as exc:
        return "invalid", exc.cost
    winner = str(answer.get("winner", "")).strip().lower()
    return (winner if winner in ("1", "2", "tie") else "invalid"), cost  # type: ignore[return-value]


def _outcome(verdict: Verdict, candidate_first: bool) -> dict[str, str]:
    if verdict in ("tie", "invalid"):
        return {"winner": verdict}
    candidate_won = (verdict == "1") == candidate_first
    return {"winner": "candidate" if candidate_won else "current"}

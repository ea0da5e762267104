"""Bookkeeping of a step's rounds: turning calls into candidates, and debate rounds into one
entry per member."""

from __future__ import annotations

from evofuse.fusion.types import CandidateResult
from evofuse.llm import CallResult


def candidate_of(result: CallResult, latency_ms: float) -> CandidateResult:
    return CandidateResult(
        model=result.model,
        status="ok",
        content=result.content,
        latency_ms=latency_ms,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cost_usd=result.cost_usd,
    )


def latest_answers(rounds: list[list[CandidateResult]]) -> list[CandidateResult]:
    """Each member's newest successful answer; members that never answered are dropped."""
    latest: dict[str, CandidateResult] = {}
    for round_ in rounds:
        for c in round_:
            if c.status == "ok":
                latest[c.model] = c
    return list(latest.values())


def aggregate(rounds: list[list[CandidateResult]]) -> list[CandidateResult]:
    """One entry per member: its latest answer, with latency, tokens and cost summed over rounds."""
    latest = {c.model: c for c in latest_answers(rounds)}
    out: list[CandidateResult] = []
    for first in rounds[0]:
        calls = [c for r in rounds for c in r if c.model == first.model]
        base = latest.get(first.model, first)
        costs = [c.cost_usd for c in calls if c.status == "ok"]
        out.append(
            base.model_copy(
                update={
                    "latency_ms": sum(c.latency_ms for c in calls),
                    "prompt_tokens": sum(c.prompt_tokens for c in calls),
                    "completion_tokens": sum(c.completion_tokens for c in calls),
                    "cost_usd": None
                    if not costs or any(c is None for c in costs)
                    else sum(c for c in costs if c is not None),
                    "error": base.error or next((c.error for c in calls if c.error), None),
                }
            )
        )
    return out

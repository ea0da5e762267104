"""Events of a running fusion step: what a live view or a streaming response sees."""

from __future__ import annotations

from dataclasses import dataclass

from evofuse.fusion.types import CandidateResult, FusionResult


@dataclass(frozen=True)
class MemberFinished:
    candidate: CandidateResult


@dataclass(frozen=True)
class RoundStarted:
    round: int  # 0 = first answers, 1.. = debate revisions
    models: list[str]


@dataclass(frozen=True)
class JudgeStarted:
    model: str


@dataclass(frozen=True)
class AnswerDelta:
    text: str


@dataclass(frozen=True)
class AnswerReset:
    """The judge broke off mid-answer; the text streamed so far is void, a fallback follows."""

    reason: str


@dataclass(frozen=True)
class Finished:
    result: FusionResult


FusionEvent = MemberFinished | RoundStarted | JudgeStarted | AnswerDelta | AnswerReset | Finished

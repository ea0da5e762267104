"""Model fusion: a pool of models answers in parallel and a judge fuses the answers."""

from evofuse.fusion.engine import FusionEngine
from evofuse.fusion.events import (
    AnswerDelta,
    AnswerReset,
    Finished,
    FusionEvent,
    JudgeStarted,
    MemberFinished,
    RoundStarted,
)
from evofuse.fusion.types import (
    CandidateResult,
    CandidateScore,
    CandidateSummary,
    FusionResult,
    JudgeResult,
    JudgeSummary,
)

__all__ = [
    "AnswerDelta",
    "AnswerReset",
    "CandidateResult",
    "CandidateScore",
    "CandidateSummary",
    "Finished",
    "FusionEngine",
    "FusionEvent",
    "FusionResult",
    "JudgeResult",
    "JudgeStarted",
    "JudgeSummary",
    "MemberFinished",
    "RoundStarted",
]

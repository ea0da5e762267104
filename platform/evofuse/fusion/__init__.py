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
from evofuse.fusion.types import CandidateResult, CandidateScore, FusionResult, JudgeResult

__all__ = [
    "AnswerDelta",
    "AnswerReset",
    "CandidateResult",
    "CandidateScore",
    "Finished",
    "FusionEngine",
    "FusionEvent",
    "FusionResult",
    "JudgeResult",
    "JudgeStarted",
    "MemberFinished",
    "RoundStarted",
]

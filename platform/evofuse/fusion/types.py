"""Result objects of a fusion step: what the engine produces, the recorder stores and the API
serialises (its `evofuse` object).

`CandidateSummary` and `JudgeSummary` are the fields the API's `evofuse` object shows of a
candidate and a verdict; the engine's `CandidateResult` and `JudgeResult` extend them. A field
declared with a summary type serialises only the summary's fields (pydantic serialises by the
declared type), so the API holds the engine's own objects and no copy is made.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from evofuse.config import FusionMode
from evofuse.fusion.auto import ModeChoice

CandidateStatus = Literal["ok", "error", "timeout", "cancelled"]
JudgeStatus = Literal["ok", "error", "timeout", "skipped"]


class CandidateSummary(BaseModel):
    """A pool member's call as the API's `evofuse.candidates` shows it (not its text)."""

    model: str
    status: CandidateStatus
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None


class CandidateResult(CandidateSummary):
    """One pool member's answer (in debate: its latest answer, with totals over all rounds)."""

    content: str | None = None
    round: int = 0  # debate round that produced `content` (0 = first answers)


class CandidateScore(BaseModel):
    model: str
    label: str  # the anonymous letter the judge saw
    score: float


class JudgeSummary(BaseModel):
    """The verdict as the API's `evofuse.judge` shows it."""

    model: str | None
    status: JudgeStatus
    latency_ms: float = 0.0
    cost_usd: float | None = None
    winner: str | None = None  # model name of the best candidate


class JudgeResult(JudgeSummary):
    """What the judge (or the fallback that replaced it) decided, and what that cost."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    scores: list[CandidateScore] = Field(default_factory=list)
    rationale: str | None = None
    error: str | None = None
    # Debiasing record: the shuffle seed and the order (model names) behind labels A, B, C, …
    seed: int | None = None
    order: list[str] = Field(default_factory=list)
    prompt_version: str | None = None
    fallback_rule: str | None = None  # set when no judge could decide and a rule picked


class FusionResult(BaseModel):
    """The outcome of one fusion step."""

    content: str
    mode: FusionMode
    profile: str
    candidates: list[CandidateResult]
    judge: JudgeResult
    cost_usd: float | None  # None when any call's price is unknown
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    degraded: bool = False
    degraded_reasons: list[str] = Field(default_factory=list)
    debate_rounds: list[list[CandidateResult]] = Field(default_factory=list)
    prompt_versions: list[str] = Field(default_factory=list)
    # Set when the request asked for mode `auto`: the mode it ran in (`mode`) and why.
    mode_choice: ModeChoice | None = None

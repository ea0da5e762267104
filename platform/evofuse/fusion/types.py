"""Result objects of a fusion step; their JSON is the `evofuse` object of the public contract."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from evofuse.config import FusionMode
from evofuse.fusion.auto import ModeChoice

CandidateStatus = Literal["ok", "error", "timeout", "cancelled"]
JudgeStatus = Literal["ok", "error", "timeout", "skipped"]


class CandidateResult(BaseModel):
    """One pool member's answer (in debate: its latest answer, with totals over all rounds)."""

    model: str
    status: CandidateStatus
    content: str | None = None
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None
    round: int = 0  # debate round that produced `content` (0 = first answers)


class CandidateScore(BaseModel):
    model: str
    label: str  # the anonymous letter the judge saw
    score: float


class JudgeResult(BaseModel):
    """What the judge (or the fallback that replaced it) decided, and what that cost."""

    model: str | None
    status: JudgeStatus
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    winner: str | None = None  # model name of the best candidate
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

    def contract_dict(self) -> dict[str, object]:
        """The JSON-ready `evofuse` response object (see the README), plus `content`."""
        return self.model_dump(mode="json")

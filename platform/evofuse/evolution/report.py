"""What a cycle found, proposed, decided and did: the stored report (`evofuse evolve show ID`).

Every free text in a report went through the scrubber before it was stored; users appear only
as short prefixes of their pseudonyms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Action = Literal["improve", "redescribe", "create", "retire", "skip"]
ProposalStatus = Literal[
    "pending",  # waiting for the gate
    "skipped",  # the LLM chose "skip", or there was not enough evidence to ask it
    "refused",  # the proposal broke a rule before the gate (unparseable, too big, collapse)
    "rejected",  # the gate said no (see `gate`)
    "promoted",  # passed the gate; published (as a canary, or directly)
    "would_promote",  # passed the gate in a dry run: nothing was published
    "duplicate",  # an extracted skill that an existing skill already covers
    "error",  # the LLM or the replay failed; the message says how
    "not_run",  # the cycle's budget ran out before this one
    "dropped",  # its base stopped being the active version and it no longer applies (stale base)
]


class Check(BaseModel):
    name: str
    passed: bool
    detail: str


class ChangeSize(BaseModel):
    edits: int
    chars_added: int
    chars_removed: int
    change_ratio: float  # changed characters / characters of the current SKILL.md
    retained_ratio: float  # share of the current SKILL.md kept verbatim


class ReplayJudgment(BaseModel):
    task: str  # held-out task id (t-<run id prefix>)
    candidate_first: bool  # the order the judge saw
    winner: Literal["candidate", "current", "tie", "invalid"]
    reason: str = ""


class ReplayResult(BaseModel):
    tasks: int
    wins: int
    losses: int
    ties: int
    invalid: int
    net: float  # (wins - losses) / judgments
    judgments: list[ReplayJudgment] = Field(default_factory=list)


class TenantSupport(BaseModel):
    tenant: str
    users_count_apart: bool  # its users count one by one (trusted, or the tenant's own skill)
    keys: int
    users: int  # distinct user pseudonyms (all anonymous runs count as one)
    items: int  # evidence items


class KeySupport(BaseModel):
    key: str  # the API key's public id, or "(no key)" for runs from the CLI
    tenant: str
    users: int
    items: int


class SupportBreakdown(BaseModel):
    """Who is behind some evidence: what counted as one supporter, and who they are."""

    counted_as: str  # "tenants", "tenants (users of trusted tenants)", "users of the tenant"
    distinct: int  # distinct supporters, counted as above
    needed: int
    tenants: int
    keys: int
    users: int
    by_tenant: list[TenantSupport] = Field(default_factory=list)
    by_key: list[KeySupport] = Field(default_factory=list)


class Proposal(BaseModel):
    """One action for one skill (or one new skill), and what became of it."""

    source: Literal["evolver", "extractor"]
    skill: str  # the skill it acts on, or the new skill's name
    action: Action
    status: ProposalStatus
    reason: str  # one line: why this status
    rationale: str = ""  # the LLM's (scrubbed)
    evidence: list[str] = Field(default_factory=list)  # cited evidence ids
    supporters: int = 0  # distinct supporters behind the cited evidence (see `support`)
    support: SupportBreakdown | None = None  # the gate's count, by tenant, key and user
    change: ChangeSize | None = None
    gate: list[Check] = Field(default_factory=list)
    replay: ReplayResult | None = None
    base_version: int | None = None
    # Set when the base changed before publication and the change was re-applied to the version
    # active then (`base_version`): the version the proposal was first made for.
    rebased_from: int | None = None
    new_version: int | None = None
    content_hash: str | None = None
    cost_usd: float = 0.0
    # The change to SKILL.md it proposes, as a unified diff (scrubbed like every text here):
    # what it would have applied, whatever the gate decided.
    diff: str = ""


class EvidenceSummary(BaseModel):
    skill: str
    version: int
    runs: int  # runs with outcomes or failures, evidence partition only
    outcomes: int
    users: int  # distinct supporters with any evidence
    supporters: int  # distinct supporters with a negative signal (low score, failure, missed)
    support: SupportBreakdown | None = None  # the negative signals by tenant, key and user
    capped_runs: int = 0  # runs left out: over `evolution.max_runs_per_key` for their key
    weighted_mean: float | None  # recency-weighted mean score
    failures: int
    comments: int
    held_out_tasks: int
    items: list[dict[str, Any]] = Field(default_factory=list)  # what the Evolver was shown
    note: str = ""


class CanaryDecision(BaseModel):
    skill: str
    version: int
    kind: str
    decision: Literal["promoted", "rolled_back", "superseded", "waiting"]
    reason: str
    candidate_mean: float | None = None
    baseline_mean: float | None = None
    samples: int = 0


class ClusterSummary(BaseModel):
    tasks: int
    users: int
    sample: list[str]  # a few scrubbed tasks
    outcome: str  # "proposed", "evidence for <skill>", "too small", …


class CycleReport(BaseModel):
    id: int
    status: str
    trigger: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    profile: str
    budget_usd: float | None
    cost_usd: float = 0.0
    unpriced_calls: int = 0  # calls whose price LiteLLM does not know (not in cost_usd)
    stopped_reason: str | None = None
    error: str | None = None
    prompt_versions: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    canaries: list[CanaryDecision] = Field(default_factory=list)
    evidence: list[EvidenceSummary] = Field(default_factory=list)
    clusters: list[ClusterSummary] = Field(default_factory=list)
    proposals: list[Proposal] = Field(default_factory=list)

    @property
    def promotions(self) -> list[Proposal]:
        return [p for p in self.proposals if p.status in ("promoted", "would_promote")]

    @property
    def rollbacks(self) -> list[CanaryDecision]:
        return [c for c in self.canaries if c.decision == "rolled_back"]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for p in self.proposals:
            counts[p.status] = counts.get(p.status, 0) + 1
        parts = [f"{n} {status}" for status, n in sorted(counts.items())]
        if self.rollbacks:
            parts.append(f"{len(self.rollbacks)} rolled back")
        text = f"{len(self.evidence)} skills with evidence; " + (", ".join(parts) or "no proposals")
        if self.stopped_reason:
            text += f"; stopped: {self.stopped_reason}"
        return text


class CycleSummary(BaseModel):
    """One line of `evofuse evolve list` and of GET /v1/evolution/runs."""

    id: int
    status: str
    trigger: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    cost_usd: float | None
    summary: str

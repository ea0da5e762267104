"""Mode `auto`: pick the fusion mode per skill from recorded outcomes (a bandit with a cost price).

The rule, for one request in the context of a skill (no skill is a context of its own):

1. Arms are the modes the profile can run: `single` always; `vote` with two or more models;
   `best-of`, `merge` and `debate` only with a judge.
2. Evidence is rated runs (`score` in [0, 1]) of that skill, grouped by the mode their steps
   ran in. The requesting tenant's own ratings count in full. The other tenants form a prior:
   each of them has one equal voice (its mean score per mode), and together they weigh at most
   `others_weight` observations per mode. So a tenant flooding ratings moves another tenant's
   choice no more than any other single tenant does, and never by more than that prior; a new
   tenant still starts from everyone's experience.
3. Warm-up: an arm with fewer than `min_trials` observations is tried first, cheapest first.
   Exploration is bounded: at most `min_trials` runs per arm and context go to warm-up.
4. Otherwise Thompson sampling with a cost price: each arm draws its success rate from
   Beta(1 + successes, 1 + failures) and the arm with the highest
   `draw - cost_weight * cost / max_cost` wins. Cost is the arm's mean recorded USD cost when
   every arm has a priced record, else its expected number of model calls. As evidence grows the
   draws narrow, so a clearly worse or costlier arm is explored less and less.

The random draws come from `random.Random(seed)`: the same evidence and seed give the same choice.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from evofuse.config import FusionMode, FusionProfile

ARMS = (FusionMode.SINGLE, FusionMode.VOTE, FusionMode.BEST_OF, FusionMode.MERGE, FusionMode.DEBATE)


@dataclass
class ArmStats:
    """Evidence about one mode: observations, summed scores, and summed known costs."""

    n: float = 0.0
    score: float = 0.0
    priced: float = 0.0  # observations with a known cost
    cost_usd: float = 0.0

    def add(self, score: float, cost_usd: float | None, weight: float = 1.0) -> None:
        self.n += weight
        self.score += weight * score
        if cost_usd is not None:
            self.priced += weight
            self.cost_usd += weight * cost_usd

    def scaled(self, factor: float) -> ArmStats:
        return ArmStats(
            self.n * factor, self.score * factor, self.priced * factor, self.cost_usd * factor
        )

    @property
    def mean(self) -> float | None:
        return self.score / self.n if self.n else None

    @property
    def mean_cost(self) -> float | None:
        return self.cost_usd / self.priced if self.priced else None


# tenant -> mode -> evidence
TenantStats = Mapping[str, Mapping[FusionMode, ArmStats]]


class ModeEvidence(Protocol):
    """Where `auto` reads rated outcomes (the SQL store, or an evaluation's own tally)."""

    def mode_stats(self, skill: str | None, version_id: int | None = None) -> TenantStats:
        """Evidence for `skill`; `version_id` (the chosen skill version) names the skill
        exactly when there are several of that name (a global one and a tenant's own)."""
        ...


@dataclass
class MemoryEvidence:
    """Outcomes kept in memory (used by `evofuse eval`, where the checker rates each answer)."""

    by_skill: dict[str | None, dict[str, dict[FusionMode, ArmStats]]] = field(default_factory=dict)

    def record(
        self,
        skill: str | None,
        tenant: str,
        mode: FusionMode,
        score: float,
        cost_usd: float | None,
    ) -> None:
        arms = self.by_skill.setdefault(skill, {}).setdefault(tenant, {})
        arms.setdefault(mode, ArmStats()).add(score, cost_usd)

    def mode_stats(self, skill: str | None, version_id: int | None = None) -> TenantStats:
        del version_id  # an evaluation's skills are names: one skill per name
        return self.by_skill.get(skill, {})


@dataclass(frozen=True)
class AutoPolicy:
    """The knobs of the rule in the module doc."""

    min_trials: int = 2
    cost_weight: float = 0.1
    others_weight: float = 10.0


class ArmReport(BaseModel):
    """What `auto` knew about one mode when it chose."""

    mode: FusionMode
    n: float
    mean: float | None
    cost: float  # the cost used (USD or expected calls, see `cost_unit`)
    draw: float | None = None
    utility: float | None = None


class ModeChoice(BaseModel):
    """The mode `auto` chose for a step, and why (recorded with the step)."""

    mode: FusionMode
    reason: str
    skill: str | None = None
    cost_unit: str  # "usd" or "calls"
    arms: list[ArmReport]


def candidate_modes(profile: FusionProfile) -> list[FusionMode]:
    """The modes `auto` may pick for a profile (see rule 1)."""
    if len(profile.models) < 2:
        return [FusionMode.SINGLE]
    modes = [FusionMode.SINGLE, FusionMode.VOTE]
    if profile.judge is not None:
        modes += [FusionMode.BEST_OF, FusionMode.MERGE, FusionMode.DEBATE]
    return modes


def expected_calls(profile: FusionProfile, mode: FusionMode) -> int:
    """Model calls one step makes in `mode` when every member answers."""
    members = len(profile.models)
    return {
        FusionMode.SINGLE: 1,
        FusionMode.VOTE: members,
        FusionMode.BEST_OF: members + 1,
        FusionMode.MERGE: members + 1,
        FusionMode.DEBATE: members * (1 + profile.debate_rounds) + 1,
    }[mode]


def pooled(
    stats: TenantStats, tenant: str | None, policy: AutoPolicy
) -> dict[FusionMode, ArmStats]:
    """One tenant's view of the evidence (rule 2): its own ratings in full, plus a prior from
    the other tenants in which each tenant has one equal voice (the mean of its per-tenant mean)
    and which weighs at most `others_weight` observations per mode."""
    own = stats.get(tenant or "", {})
    out = {mode: ArmStats(a.n, a.score, a.priced, a.cost_usd) for mode, a in own.items()}
    others = [arms for who, arms in stats.items() if who != (tenant or "")]
    for mode in {m for arms in others for m in arms}:
        voices = [arms[mode] for arms in others if mode in arms and arms[mode].n > 0]
        if not voices:
            continue
        weight = min(policy.others_weight, sum(v.n for v in voices))
        mean = sum(v.score / v.n for v in voices) / len(voices)
        total = out.setdefault(mode, ArmStats())
        total.n += weight
        total.score += weight * mean
        costs = [v.mean_cost for v in voices if v.mean_cost is not None]
        if len(costs) == len(voices):
            total.priced += weight
            total.cost_usd += weight * sum(costs) / len(costs)
    return out


def choose(
    profile: FusionProfile,
    evidence: Mapping[FusionMode, ArmStats],
    *,
    seed: int | str,
    skill: str | None = None,
    policy: AutoPolicy = AutoPolicy(),
) -> ModeChoice:
    """Pick a mode for one step (the rule in the module doc)."""
    modes = candidate_modes(profile)
    arms = {m: evidence.get(m, ArmStats()) for m in modes}
    usd = {m: a.mean_cost for m, a in arms.items()}
    priced = all(c is not None for c in usd.values()) and any(usd.values())
    costs = {
        m: float(usd[m] or 0.0) if priced else float(expected_calls(profile, m)) for m in modes
    }
    top_cost = max(costs.values()) or 1.0
    reports = {
        m: ArmReport(mode=m, n=round(a.n, 3), mean=a.mean, cost=costs[m]) for m, a in arms.items()
    }
    unit = "usd" if priced else "calls"
    context = f"skill {skill!r}" if skill else "requests without a skill"
    if len(modes) == 1:
        return _choice(modes[0], "the profile can only run one mode", skill, unit, reports)
    warming = [m for m in modes if arms[m].n < policy.min_trials]
    if warming:
        mode = min(warming, key=lambda m: (costs[m], modes.index(m)))
        reason = (
            f"exploring: {mode.value} has {arms[mode].n:g} of {policy.min_trials} rated runs "
            f"for {context} (cheapest untried first)"
        )
        return _choice(mode, reason, skill, unit, reports)
    rng = random.Random(str(seed))
    for m in modes:
        a = arms[m]
        draw = rng.betavariate(1.0 + a.score, 1.0 + a.n - a.score)
        reports[m].draw = round(draw, 4)
        reports[m].utility = round(draw - policy.cost_weight * costs[m] / top_cost, 4)
    mode = max(modes, key=lambda m: (reports[m].utility or 0.0, -costs[m]))
    best = arms[mode]
    reason = (
        f"bandit: {mode.value} scored {best.mean:.2f} over {best.n:g} rated runs for {context}; "
        f"highest sampled quality minus {policy.cost_weight:g} x relative cost"
    )
    return _choice(mode, reason, skill, unit, reports)


def _choice(
    mode: FusionMode,
    reason: str,
    skill: str | None,
    unit: str,
    reports: Mapping[FusionMode, ArmReport],
) -> ModeChoice:
    return ModeChoice(
        mode=mode, reason=reason, skill=skill, cost_unit=unit, arms=list(reports.values())
    )


class ModeChooser:
    """`auto` for an engine: reads evidence, applies the policy (see the module doc)."""

    def __init__(self, evidence: ModeEvidence | None, policy: AutoPolicy = AutoPolicy()) -> None:
        self.evidence = evidence
        self.policy = policy

    def choose(
        self,
        profile: FusionProfile,
        *,
        skill: str | None,
        tenant: str | None,
        seed: int | str,
        skill_version_id: int | None = None,
    ) -> ModeChoice:
        stats = (
            self.evidence.mode_stats(skill, skill_version_id) if self.evidence is not None else {}
        )
        return choose(
            profile, pooled(stats, tenant, self.policy), seed=seed, skill=skill, policy=self.policy
        )

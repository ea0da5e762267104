"""Cost estimates before dispatch, so `max_cost_usd` refuses a request instead of overspending."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from evofuse.config import FusionMode, FusionProfile
from evofuse.config.models import JUDGELESS_MODES
from evofuse.errors import BudgetExceededError
from evofuse.fusion.auto import candidate_modes
from evofuse.llm import Message, ModelGateway

# Tokens the judge prompt adds around the candidates (instructions, labels, JSON keys).
JUDGE_OVERHEAD_TOKENS = 600
BEST_OF_JUDGE_MAX_TOKENS = 512


@dataclass
class CostEstimate:
    """Upper-bound cost of a step, assuming every call writes `max_tokens`."""

    total_usd: float = 0.0
    lines: list[str] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)  # models whose price LiteLLM does not know

    def add(
        self, gateway: ModelGateway, model: str, prompt_tokens: int, max_tokens: int, what: str
    ) -> None:
        cost = gateway.cost(model, prompt_tokens, max_tokens)
        if cost is None:
            if model not in self.unpriced:
                self.unpriced.append(model)
            return
        self.total_usd += cost
        self.lines.append(f"{what} {model}: ≤ ${cost:.4f} ({prompt_tokens} in + {max_tokens} out)")


def judge_max_tokens(mode: FusionMode, max_tokens: int) -> int:
    return BEST_OF_JUDGE_MAX_TOKENS if mode is FusionMode.BEST_OF else max_tokens + 400


def estimate(
    gateway: ModelGateway,
    profile: FusionProfile,
    messages: Sequence[Message],
    max_tokens: int,
) -> CostEstimate:
    if profile.mode is FusionMode.AUTO:
        # `auto` has not chosen yet: the worst case is its costliest mode.
        options = [profile.model_copy(update={"mode": m}) for m in candidate_modes(profile)]
        return max(
            (estimate(gateway, p, messages, max_tokens) for p in options),
            key=lambda e: e.total_usd,
        )
    est = CostEstimate()
    pool = profile.models[:1] if profile.mode is FusionMode.SINGLE else profile.models
    for model in pool:
        prompt = gateway.count_tokens(model, messages)
        est.add(gateway, model, prompt, max_tokens, "member")
        if profile.mode is FusionMode.DEBATE:
            # Each revision round re-sends the conversation plus every member's latest answer.
            revise_prompt = prompt + len(pool) * max_tokens + 200
            for round_ in range(1, profile.debate_rounds + 1):
                est.add(gateway, model, revise_prompt, max_tokens, f"debate round {round_}")
    if profile.mode not in JUDGELESS_MODES and profile.judge is not None and len(pool) > 1:
        judge_prompt = (
            gateway.count_tokens(profile.judge, messages)
            + len(pool) * max_tokens
            + JUDGE_OVERHEAD_TOKENS
        )
        est.add(
            gateway,
            profile.judge,
            judge_prompt,
            judge_max_tokens(profile.mode, max_tokens),
            "judge",
        )
    return est


def enforce(profile_name: str, profile: FusionProfile, est: CostEstimate) -> None:
    """Refuse a request whose worst case does not fit in the profile's `max_cost_usd`."""
    limit = profile.max_cost_usd
    if limit is None or est.total_usd <= limit:
        return
    raise BudgetExceededError(
        f"This request may cost up to ${est.total_usd:.4f}, more than "
        f"fusion.profiles.{profile_name}.max_cost_usd = ${limit:.4f}:\n  " + "\n  ".join(est.lines),
        hint="Lower max_tokens, shorten the prompt, use fewer models or debate rounds, "
        "or raise max_cost_usd.",
    )

"""Every LLM call evolution makes goes through here: the fusion engine, with the cycle's budget.

Calls run with the fusion profile named by `evolution.profile`. Before each call, the engine's
worst-case estimate is reserved against `evolution.max_cost_usd`; a call that could overrun the
budget is not made, and `BudgetExhausted` ends the cycle cleanly. Calls to models whose price
LiteLLM does not know are made, counted as unpriced, and reported.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

from evofuse.fusion import FusionEngine
from evofuse.skills.spec import SkillSpec

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class BudgetExhausted(Exception):
    """The next call could exceed the cycle's budget; nothing more is spent."""


@dataclass
class Budget:
    limit_usd: float | None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    calls: int = 0
    unpriced_calls: int = 0
    unpriced_models: set[str] = field(default_factory=set)

    def reserve(self, worst_case: float, what: str) -> None:
        if self.limit_usd is None:
            return
        if self.spent_usd + self.reserved_usd + worst_case > self.limit_usd:
            raise BudgetExhausted(
                f"the cycle's budget of ${self.limit_usd:.4f} is spent up to "
                f"${self.spent_usd:.4f}; {what} could cost up to ${worst_case:.4f} more"
            )
        self.reserved_usd += worst_case

    def settle(self, worst_case: float, actual: float | None) -> None:
        """A reserved call finished: release its reservation, count what it really cost."""
        if self.limit_usd is not None:
            self.reserved_usd -= worst_case
        self.calls += 1
        if actual is None:
            self.unpriced_calls += 1
        else:
            self.spent_usd += actual


class Thinker:
    """Asks the evolution profile for JSON decisions and for answers to replayed tasks."""

    def __init__(
        self, engine: FusionEngine, profile: str, budget: Budget, *, max_tokens: int
    ) -> None:
        self.engine, self.profile, self.budget, self.max_tokens = (
            engine,
            profile,
            budget,
            max_tokens,
        )
        self.prompt_versions: set[str] = set()
        self._lock = asyncio.Lock()  # reservations of concurrent replay calls

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        what: str,
        instructions: str | None = None,
        mode: str | None = None,
    ) -> tuple[str, float]:
        """One fused step; returns (content, cost in USD as far as known)."""
        options: dict[str, Any] = {"profile": self.profile, "max_tokens": self.max_tokens}
        if mode is not None:
            options["mode"] = mode
        async with self._lock:
            estimate = self.engine.estimate(messages, **options)
            self.budget.reserve(estimate.total_usd, what)
        try:
            result = await self.engine.run(messages, instructions=instructions, **options)
        except BaseException:
            # A failed call's cost is unknown to us here; the reservation is released.
            self.budget.settle(estimate.total_usd, 0.0)
            raise
        self.budget.settle(estimate.total_usd, result.cost_usd)
        self.prompt_versions.update(result.prompt_versions)
        if result.cost_usd is None:
            self.budget.unpriced_models.update(estimate.unpriced)
        return result.content, result.cost_usd or 0.0

    async def decide(
        self, prompt: str, *, what: str, prompt_id: str
    ) -> tuple[dict[str, Any], float]:
        """Ask for one JSON object; raises `UnparseableAnswer` (with the cost spent) if none."""
        self.prompt_versions.add(prompt_id)
        content, cost = await self.complete([{"role": "user", "content": prompt}], what=what)
        try:
            return parse_json_object(content), cost
        except ValueError as exc:
            raise UnparseableAnswer(str(exc), cost) from None

    async def answer(self, task: str, skill: SkillSpec | None) -> tuple[str, float]:
        """Answer a task the way the runtime would with this skill (or with no skill)."""
        messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
        if skill is None:
            return await self.complete(messages, what="a replay answer")
        instructions = skill.body.strip() or None
        if not skill.steps:
            mode = skill.mode.value if skill.mode else None
            return await self.complete(
                messages, what="a replay answer", instructions=instructions, mode=mode
            )
        # The same messages `evofuse.runtime.nodes.run_step` builds for a skill's phases.
        done: list[tuple[str, str]] = []
        total = 0.0
        content = ""
        for step in skill.steps:
            parts = []
            if done:
                work = "\n\n".join(f"## {name}\n{text}" for name, text in done)
                parts.append(f"Work so far on this request:\n\n{work}")
            parts.append(f"Now do this step ({step.name}): {step.instruction}")
            step_messages = [*messages, {"role": "user", "content": "\n\n".join(parts)}]
            content, cost = await self.complete(
                step_messages,
                what="a replay step",
                instructions=instructions,
                mode=step.mode.value if step.mode else None,
            )
            total += cost
            done.append((step.name, content))
        return content, total


class UnparseableAnswer(ValueError):
    def __init__(self, message: str, cost: float) -> None:
        super().__init__(message)
        self.cost = cost


def parse_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in a model's answer (fenced or not, with prose around it or not)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except ValueError:
                start = candidate.find("{", start + 1)
                continue
            if isinstance(value, dict):
                return value
            start = candidate.find("{", start + 1)
    preview = " ".join(text.split())[:160]
    raise ValueError(f"the answer holds no JSON object: {preview!r}")

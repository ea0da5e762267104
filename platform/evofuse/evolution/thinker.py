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

from evofuse.config import FusionMode
from evofuse.evolution.structured import response_format
from evofuse.fusion import FusionEngine, FusionResult
from evofuse.options import FusionOptions, ModelSettings
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
        result, cost = await self._fuse(messages, what=what, instructions=instructions, mode=mode)
        return result.content, cost

    async def _fuse(
        self,
        messages: list[dict[str, Any]],
        *,
        what: str,
        instructions: str | None = None,
        mode: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> tuple[FusionResult, float]:
        options = FusionOptions.parse(
            {
                "profile": self.profile,
                "mode": mode,
                # A provider without structured output answers from the prompt alone.
                "sampling": ModelSettings(
                    max_tokens=self.max_tokens,
                    response_format=response_format,
                    drop_params=response_format is not None,
                ),
            }
        )
        async with self._lock:
            estimate = self.engine.estimate(messages, options)
            self.budget.reserve(estimate.total_usd, what)
        try:
            result = await self.engine.run(messages, options, instructions=instructions)
        except BaseException:
            # A failed call's cost is unknown to us here; the reservation is released.
            self.budget.settle(estimate.total_usd, 0.0)
            raise
        self.budget.settle(estimate.total_usd, result.cost_usd)
        self.prompt_versions.update(result.prompt_versions)
        if result.cost_usd is None:
            self.budget.unpriced_models.update(estimate.unpriced)
        return result, result.cost_usd or 0.0

    async def decide(
        self,
        prompt: str,
        *,
        what: str,
        prompt_id: str,
        schema: dict[str, Any] | None = None,
        schema_name: str = "decision",
    ) -> tuple[dict[str, Any], float]:
        """Ask for one JSON object; raises `UnparseableAnswer` (with the cost spent) if none.

        With a `schema`, every member is asked for it through `response_format` (in the
        dialect of the profile's `judge_output`; `drop_params` lets providers without structured
        output answer from the prompt alone). A pool decides by best-of: the judge picks one
        whole answer, since a merged or debated answer is free text the schema never saw. When
        the pick does not parse (a provider that ignored the schema), the other members'
        answers are tried before giving up.
        """
        self.prompt_versions.add(prompt_id)
        _, profile = self.engine.resolve_profile(self.profile)
        fmt = None
        if schema is not None:
            fmt = response_format(profile.judge_output, schema_name, schema)
        mode = None
        if profile.mode is not FusionMode.SINGLE and len(profile.models) > 1:
            mode = FusionMode.BEST_OF.value
        result, cost = await self._fuse(
            [{"role": "user", "content": prompt}], what=what, mode=mode, response_format=fmt
        )
        texts = [result.content] + [
            c.content
            for c in result.candidates
            if c.status == "ok" and c.content and c.content != result.content
        ]
        first_error = ""
        for text in texts:
            try:
                return parse_json_object(text), cost
            except ValueError as exc:
                first_error = first_error or str(exc)
        raise UnparseableAnswer(first_error, cost)

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
    repaired = _close_truncated(text)
    if repaired is not None:
        return repaired
    preview = " ".join(text.split())[:160]
    raise ValueError(f"the answer holds no JSON object: {preview!r}")


def _close_truncated(text: str) -> dict[str, Any] | None:
    """An answer that is one JSON object cut off by `max_tokens`, closed where it stopped.

    Grammar-constrained answers only ever fail this way. The open string, arrays and objects
    are closed; if that is not valid JSON (cut between a key and its value), the object is
    closed after its last complete member instead. Whatever comes back is checked like any
    other answer.
    """
    body = text.strip()
    if not body.startswith("{"):
        return None
    closers: list[str] = []
    in_string = escaped = False
    last_member: tuple[int, list[str]] | None = None
    for i, ch in enumerate(body):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            closers.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not closers:
                return None
            closers.pop()
            if not closers:
                return None  # a complete object that did not parse: not a truncation
        elif ch == ",":
            last_member = (i, list(closers))
    if escaped:
        body = body[:-1]
    attempts = [body + ('"' if in_string else "") + "".join(reversed(closers))]
    if last_member is not None:
        cut, open_then = last_member
        attempts.append(body[:cut] + "".join(reversed(open_then)))
    for attempt in attempts:
        try:
            value = json.loads(attempt)
        except ValueError:
            continue
        if isinstance(value, dict) and value:
            return value
    return None

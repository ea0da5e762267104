"""A finished run, typed: every step's `FusionResult` as the engine produced it, and the totals.

The graph's state holds each step's result as JSON (`StepRecord.fusion`: checkpoints and
LangGraph's own server need plain data); `RunResult.from_state` reads it back into the engine's
types once, and everything after (the API's `evofuse` object, `evofuse run`, metrics) reads
typed fields, never dict keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evofuse.fusion import FusionResult
from evofuse.ports import SkillChoice


@dataclass(frozen=True)
class StepResult:
    """One step of a run and its fusion result."""

    index: int
    name: str
    mode: str
    fusion: FusionResult


@dataclass
class RunResult:
    """The outcome of one graph run."""

    run_id: str
    graph: str
    thread_id: str
    answer: str
    skill: SkillChoice | None
    steps: list[StepResult] = field(default_factory=list)

    @classmethod
    def from_state(
        cls, run_id: str, graph: str, thread_id: str, state: Mapping[str, Any]
    ) -> RunResult:
        """The result of run `run_id` from the graph's final state (a checkpointed thread also
        holds earlier runs' steps: only this run's count)."""
        steps = [
            StepResult(
                index=s["index"],
                name=s["name"],
                mode=s["mode"],
                fusion=FusionResult.model_validate(s["fusion"]),
            )
            for s in state.get("steps", [])
            if s["run_id"] == run_id
        ]
        return cls(
            run_id=run_id,
            graph=graph,
            thread_id=thread_id,
            answer=state.get("answer", ""),
            skill=state.get("skill"),
            steps=steps,
        )

    @property
    def final(self) -> FusionResult | None:
        """The last step's result: its pool and judge stand for the run's answer."""
        return self.steps[-1].fusion if self.steps else None

    @property
    def cost_usd(self) -> float | None:
        """Every call of every step; None when any call's price is unknown."""
        costs = [s.fusion.cost_usd for s in self.steps]
        return None if any(c is None for c in costs) else sum(c for c in costs if c)

    @property
    def latency_ms(self) -> float:
        return sum(s.fusion.latency_ms for s in self.steps)

    @property
    def prompt_tokens(self) -> int:
        return sum(s.fusion.prompt_tokens for s in self.steps)

    @property
    def completion_tokens(self) -> int:
        return sum(s.fusion.completion_tokens for s in self.steps)

    @property
    def degraded(self) -> bool:
        return any(s.fusion.degraded for s in self.steps)

    def evofuse_object(self) -> dict[str, Any]:
        """The full record `evofuse run --json` prints: the final step's fusion, the skill,
        totals, and every step's whole fusion result (candidates' text included)."""
        final = self.final
        skill = None
        if self.skill:
            skill = {"name": self.skill.get("name"), "version": self.skill.get("version")}
        return {
            "run_id": self.run_id,
            "graph": self.graph,
            "thread_id": self.thread_id,
            "mode": final.mode.value if final else None,
            "profile": final.profile if final else None,
            "skill": skill,
            "candidates": [c.model_dump(mode="json") for c in final.candidates] if final else [],
            "judge": final.judge.model_dump(mode="json") if final else None,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "steps": [
                {
                    "index": s.index,
                    "name": s.name,
                    "mode": s.mode,
                    "fusion": s.fusion.model_dump(mode="json"),
                }
                for s in self.steps
            ],
        }

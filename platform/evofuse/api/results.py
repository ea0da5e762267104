"""From a finished run to the response: the `evofuse` object, usage, the streamed remainder."""

from __future__ import annotations

from typing import Any

from evofuse.api.schemas import CandidateOut, EvofuseObject, JudgeOut, SkillRef, StepOut, Usage
from evofuse.runtime.runner import RunResult


def run_result(run_id: str, graph: str, final: dict[str, Any]) -> RunResult:
    """The same result `Runner.run` builds, from the last `values` chunk of a stream."""
    return RunResult(
        run_id=run_id,
        graph=graph,
        thread_id=run_id,
        answer=final.get("answer", ""),
        skill=final.get("skill"),
        steps=[s for s in final.get("steps", []) if s["run_id"] == run_id],
    )


def unstreamed(answer: str, streamed: str) -> str:
    """The part of the answer no delta carried (a step that did not stream, for instance)."""
    if answer == streamed:
        return ""
    return answer[len(streamed) :] if answer.startswith(streamed) else answer


def usage(raw: dict[str, Any]) -> Usage:
    prompt, completion = int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def evofuse_object(result: RunResult) -> EvofuseObject:
    """The `evofuse` object: the last step's pool and judge, totals over every step."""
    raw = result.evofuse_object()
    steps = [
        StepOut(
            index=s["index"],
            name=s["name"],
            mode=s["mode"],
            cost_usd=s["fusion"].get("cost_usd"),
            latency_ms=s["fusion"].get("latency_ms"),
            degraded=bool(s["fusion"].get("degraded")),
            mode_choice=s["fusion"].get("mode_choice"),
        )
        for s in result.steps
    ]
    return EvofuseObject(
        run_id=raw["run_id"],
        graph=raw["graph"],
        mode=raw["mode"],
        profile=raw["profile"],
        skill=SkillRef.model_validate(raw["skill"]) if raw["skill"] else None,
        candidates=[CandidateOut.model_validate(c) for c in raw["candidates"]],
        judge=JudgeOut.model_validate(raw["judge"]) if raw["judge"] else None,
        cost_usd=raw["cost_usd"],
        latency_ms=raw["latency_ms"],
        degraded=any(s.degraded for s in steps),
        steps=steps,
    )

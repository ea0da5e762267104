"""From a finished run to the response: the `evofuse` object, usage, the streamed remainder."""

from __future__ import annotations

from evofuse.api.schemas import EvofuseObject, SkillRef, StepOut, Usage
from evofuse.runtime.results import RunResult


def unstreamed(answer: str, streamed: str) -> str:
    """The part of the answer no delta carried (a step that did not stream, for instance)."""
    if answer == streamed:
        return ""
    return answer[len(streamed) :] if answer.startswith(streamed) else answer


def usage(result: RunResult) -> Usage:
    prompt, completion = result.prompt_tokens, result.completion_tokens
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def evofuse_object(result: RunResult) -> EvofuseObject:
    """The `evofuse` object: the last step's pool and judge, totals over every step."""
    final = result.final
    skill = result.skill
    return EvofuseObject(
        run_id=result.run_id,
        graph=result.graph,
        mode=final.mode.value if final else None,
        profile=final.profile if final else None,
        skill=SkillRef(name=skill.get("name"), version=skill.get("version")) if skill else None,
        candidates=list(final.candidates) if final else [],
        judge=final.judge if final else None,
        cost_usd=result.cost_usd,
        latency_ms=result.latency_ms,
        degraded=result.degraded,
        steps=[
            StepOut(
                index=s.index,
                name=s.name,
                mode=s.mode,
                cost_usd=s.fusion.cost_usd,
                latency_ms=s.fusion.latency_ms,
                degraded=s.fusion.degraded,
                mode_choice=s.fusion.mode_choice,
            )
            for s in result.steps
        ],
    )

"""The progress events EvoFuse graphs write to LangGraph's `custom` stream, typed.

On the stream they are plain JSON objects (LangGraph's server forwards them to its clients as
they are), each with an `event` key naming its kind. The nodes build them here from the
fusion's own events (`evofuse.fusion.events`); readers (the chat endpoint, `evofuse run`'s live
view) parse them with `parse_event`, so a kind or a field is spelled in one place.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from 3.12

from evofuse.fusion import AnswerDelta, AnswerReset, FusionEvent, JudgeStarted, MemberFinished


class PublicSkill(TypedDict):
    """The chosen skill as progress shows it (not its instructions)."""

    name: str | None
    version: int | None
    score: float | None
    scope: str | None
    reason: str | None
    steps: list[str | None]


class SkillEvent(TypedDict):
    event: Literal["skill"]
    skill: PublicSkill | None  # None: no skill matched


class StepEvent(TypedDict):
    event: Literal["step"]
    index: int
    name: str
    mode: str | None


class MemberEvent(TypedDict):
    event: Literal["member"]
    step: int
    model: str
    status: str
    latency_ms: float
    round: int


class JudgeEvent(TypedDict):
    event: Literal["judge"]
    step: int
    model: str


class DeltaEvent(TypedDict):
    event: Literal["delta"]
    step: int
    final: bool  # part of the run's answer (the final step), not of an intermediate step
    text: str


class ResetEvent(TypedDict):
    event: Literal["reset"]
    step: int
    final: bool
    reason: str  # the text streamed so far is void; a fallback answer follows


RunEvent = SkillEvent | StepEvent | MemberEvent | JudgeEvent | DeltaEvent | ResetEvent

_ADAPTER: TypeAdapter[RunEvent] = TypeAdapter(Annotated[RunEvent, Field(discriminator="event")])


def parse_event(chunk: Any) -> RunEvent | None:
    """A `custom` stream chunk as a run event; None for anything else (a graph of the user's
    own may write its own chunks to the same stream)."""
    try:
        return _ADAPTER.validate_python(chunk)
    except ValidationError:
        return None


def step_event(index: int, name: str, mode: str | None) -> StepEvent:
    return {"event": "step", "index": index, "name": name, "mode": mode}


def fusion_event(event: FusionEvent, step: int, *, final: bool) -> RunEvent | None:
    """The stream event of a fusion event (None for those progress does not show)."""
    if isinstance(event, MemberFinished):
        c = event.candidate
        return {
            "event": "member",
            "step": step,
            "model": c.model,
            "status": c.status,
            "latency_ms": c.latency_ms,
            "round": c.round,
        }
    if isinstance(event, JudgeStarted):
        return {"event": "judge", "step": step, "model": event.model}
    if isinstance(event, AnswerDelta):
        return {"event": "delta", "step": step, "final": final, "text": event.text}
    if isinstance(event, AnswerReset):
        return {"event": "reset", "step": step, "final": final, "reason": event.reason}
    return None

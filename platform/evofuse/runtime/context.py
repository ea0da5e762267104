"""What a graph's nodes need at run time, passed as LangGraph's runtime context.

Graphs are compiled with `context_schema=EvoContext` and invoked with `context=EvoContext(...)`;
`evofuse.runtime.Runner` builds it from the configuration. Invoked without one (as LangGraph's
own server does), the nodes build it from the configuration themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import InitVar, dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, ValidationError
from pydantic_core import core_schema

from evofuse.errors import DeadlineExceededError, UserError
from evofuse.options import DEFAULT_OPTIONS, FusionOptions, ModelSettings
from evofuse.ports import RunInfo, RunRecorder, SkillChooser

if TYPE_CHECKING:
    from evofuse.config import Settings
    from evofuse.fusion import FusionEngine

# The ports live in evofuse.ports; code written against this module keeps working.
__all__ = [
    "Deadline",
    "EvoContext",
    "RunRecorder",
    "SkillChooser",
    "run_deadline_s",
    "run_outcome",
    "within",
]


@dataclass(frozen=True)
class Deadline:
    """When a run must be over: `seconds` after it started, `at` on the event loop's clock."""

    seconds: float
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, asyncio.get_running_loop().time() + seconds)

    def passed(self) -> bool:
        return asyncio.get_running_loop().time() >= self.at


def within(deadline: Deadline | None) -> _Within:
    """`async with within(deadline):` stops the block at the deadline with
    `DeadlineExceededError` (no deadline: unbounded)."""
    return _Within(deadline)


class _Within:
    # A class, not a generator-based context manager: the Runner enters one per streamed chunk.
    __slots__ = ("deadline", "limit")

    def __init__(self, deadline: Deadline | None) -> None:
        self.deadline = deadline
        self.limit = asyncio.timeout_at(deadline.at if deadline is not None else None)

    async def __aenter__(self) -> None:
        await self.limit.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self.limit.__aexit__(*exc_info)
        except TimeoutError:  # raised by the limit only once it expired
            assert self.deadline is not None  # an unbounded limit never expires
            raise DeadlineExceededError(self.deadline.seconds) from None


def run_outcome(exc: BaseException) -> tuple[str, str]:
    """(status, error) recorded for a run that ended with `exc`, the same under `Runner` and
    under LangGraph's server."""
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return "cancelled", "the caller cancelled the run"
    if isinstance(exc, DeadlineExceededError):
        return "failed", f"{exc.code}: {exc.message}"
    return "failed", f"{type(exc).__name__}: {exc}"


def run_deadline_s(settings: Settings, options: FusionOptions) -> float | None:
    """A run's overall deadline: the request's, else its profile's (None: no deadline)."""
    if options.deadline_s is not None:
        return options.deadline_s
    profile = settings.fusion.profiles.get(options.profile or settings.fusion.default_profile)
    return profile.deadline_s if profile is not None else None


@dataclass
class EvoContext:
    """Run-scoped dependencies and per-call overrides for EvoFuse nodes."""

    # None when a host that does not know EvoFuse (LangGraph's own server) built the context
    # from its client's JSON: the nodes then complete it from the configuration
    # (`evofuse.runtime.defaults`).
    engine: FusionEngine | None = None
    selector: SkillChooser | None = None
    recorder: RunRecorder | None = None
    graph_id: str = "custom"
    tenant: str | None = None
    user: str | None = None  # already hashed: raw end-user ids never reach the store
    thread_id: str | None = None
    task: str | None = None  # the last user message, recorded with the run for evolution
    api_key_id: str | None = None  # the authenticated key that sent the run (API only)
    # The fusion options of every step (profile, its overrides, model settings), validated
    # where the request entered; `skill` forces a skill by name instead of asking the Selector.
    options: FusionOptions = DEFAULT_OPTIONS
    skill: str | None = None
    # Stream the final answer as it is written (custom `delta` events). Off when nobody reads
    # the deltas: a streamed judge costs LiteLLM ~0.35 ms of CPU per chunk.
    stream_answer: bool = True
    # The run's overall deadline, set by `Runner`: a step cancelled once it has passed is
    # recorded as out of time, not as cancelled by the caller.
    deadline: Deadline | None = None
    # The fields a host that does not know EvoFuse passes as they came from its client
    # (LangGraph's server builds `EvoContext(**client_json)`): validated into `options` here
    # (replacing it), so they are not kept as fields of their own.
    profile: InitVar[str | None] = None
    mode: InitVar[str | None] = None
    models: InitVar[list[str] | None] = None
    judge: InitVar[str | None] = None
    params: InitVar[dict[str, Any] | None] = None
    deadline_s: InitVar[float | None] = None

    def __post_init__(
        self,
        profile: str | None,
        mode: str | None,
        models: list[str] | None,
        judge: str | None,
        params: dict[str, Any] | None,
        deadline_s: float | None,
    ) -> None:
        given = {
            "profile": profile,
            "mode": mode,
            "models": models,
            "judge": judge,
            "deadline_s": deadline_s,
        }
        given = {k: v for k, v in given.items() if v is not None}
        if given or params:
            _, self.options = parse_client_context({**given, "params": params or {}})

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """The schema hosts show their clients (LangGraph's server and Studio): the fields a
        client may set, not the engine, Selector and recorder EvoFuse supplies."""
        return handler(ClientContext)

    def run_info(self) -> RunInfo:
        """What the recorder keeps about this run (not the engine, selector or overrides)."""
        return RunInfo(
            graph_id=self.graph_id,
            tenant=self.tenant,
            user=self.user,
            thread_id=self.thread_id,
            task=self.task,
            api_key_id=self.api_key_id,
        )


class ClientContext(BaseModel):
    """The context fields a client may send through a host such as LangGraph's server.

    This is the JSON schema such hosts show for `EvoContext` (LangGraph Studio's context form,
    `assistants.get_schemas`); the engine, Selector, recorder and identity are EvoFuse's to fill.
    """

    model_config = ConfigDict(extra="ignore")

    user: str | None = Field(default=None, description="End-user id; stored only as a keyed hash.")
    profile: str | None = Field(default=None, description="Fusion profile of the configuration.")
    mode: str | None = Field(
        default=None, description="Fusion mode for every step: best-of, merge, debate, single, …"
    )
    models: list[str] | None = Field(default=None, description="Pool members (model_list names).")
    judge: str | None = Field(default=None, description="Judge model (a model_list name).")
    skill: str | None = Field(default=None, description="Use this skill instead of the Selector.")
    deadline_s: float | None = Field(
        default=None, gt=0, description="Bound on the whole run in seconds (else the profile's)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Model settings for every member: temperature, …"
    )
    stream_answer: bool = Field(
        default=True, description="Stream the final answer as custom `delta` events."
    )


CLIENT_FIELDS = tuple(ClientContext.model_fields)
_OVERRIDES = ("profile", "mode", "models", "judge", "deadline_s")


def parse_client_context(fields: Mapping[str, Any]) -> tuple[ClientContext, FusionOptions]:
    """A client's context fields, and the `FusionOptions` they ask for (profile, mode, models,
    judge, deadline_s; `params` are the model settings every member gets). A `UserError` names
    every field at fault and the fields a client may set."""
    stage = ""  # the field the errors below are inside of
    try:
        client = ClientContext.model_validate(dict(fields))
        stage = "params."
        sampling = ModelSettings.model_validate(client.params)
        stage = ""
        overrides = client.model_dump(include=set(_OVERRIDES), exclude_none=True)
        options = FusionOptions.model_validate({**overrides, "sampling": sampling})
    except ValidationError as exc:
        problems = "; ".join(
            f"{stage}{'.'.join(map(str, e['loc']))}: {e['msg']}".removeprefix(": ")
            for e in exc.errors()
        )
        raise UserError(
            f"Invalid run context: {problems}",
            hint=f"Context fields a client may set: {', '.join(CLIENT_FIELDS)}; "
            "`params` takes model settings (temperature, top_p, max_tokens, stop, …).",
        ) from None
    return client, options

"""The API's request and response bodies: OpenAI's Chat Completions shapes plus EvoFuse's own.

Requests forbid unknown fields: a parameter EvoFuse cannot honour is refused with a message,
never silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evofuse.config import FusionMode
from evofuse.fusion.auto import ModeChoice
from evofuse.fusion.types import CandidateSummary, JudgeSummary

# -- requests ---------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ImageURL(_Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionCall(_Strict):
    name: str
    arguments: str  # JSON text, as the model wrote it


class ToolCall(_Strict):
    """A tool call an earlier assistant message made (conversation history)."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Strict):
    """One message of the conversation, as OpenAI defines it."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None

    @model_validator(mode="after")
    def _fits_its_role(self) -> Self:
        """OpenAI's rules per role, checked here rather than failing deep inside a graph."""
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"only assistant messages have tool_calls, not {self.role}")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs content")
        return self

    def as_dict(self) -> dict[str, Any]:
        # `content` stays even when null: LangChain's message conversion requires the key.
        return {"content": None, **self.model_dump(mode="json", exclude_none=True)}


class EvofuseOptions(_Strict):
    """Per-request overrides of the fusion (EvoFuse's extension of the request body)."""

    mode: FusionMode | None = Field(default=None, description="best-of, merge, debate or single")
    profile: str | None = Field(default=None, min_length=1, description="A fusion profile")
    models: list[str] | None = Field(
        default=None, min_length=1, description="The pool: model_name entries of model_list"
    )
    judge: str | None = Field(default=None, min_length=1, description="The judge's model_name")
    skill: str | None = Field(
        default=None, min_length=1, description="Use this skill instead of asking the Selector"
    )
    deadline_s: float | None = Field(
        default=None,
        gt=0,
        description="The whole run must end within this many seconds, or it fails with 504 "
        "(default: the profile's deadline_s)",
    )


class StreamOptions(_Strict):
    include_usage: bool = Field(
        default=False, description="Send a last chunk with `usage` (and `choices: []`)"
    )


_MEMBERS = "Sent to every pool member."
_UNSUPPORTED = "Not supported: a request that sets it is refused with 400."


class ChatCompletionRequest(_Strict):
    """OpenAI's Chat Completions request. `model` is a graph id or `fusion/<profile>`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"model": "assistant", "messages": [{"role": "user", "content": "Hello!"}]},
                {
                    "model": "assistant",
                    "messages": [{"role": "user", "content": "Review: SELECT * FROM t"}],
                    "stream": True,
                    "user": "user-123",
                    "evofuse": {"mode": "best-of"},
                },
            ]
        },
    )

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2, description=_MEMBERS)
    top_p: float | None = Field(default=None, ge=0, le=1, description=_MEMBERS)
    max_tokens: int | None = Field(default=None, ge=1, description=_MEMBERS)
    max_completion_tokens: int | None = Field(
        default=None, ge=1, description="Same as max_tokens. " + _MEMBERS
    )
    stop: str | list[str] | None = Field(default=None, description="Up to 4. " + _MEMBERS)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2, description=_MEMBERS)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2, description=_MEMBERS)
    logit_bias: dict[str, float] | None = Field(default=None, description=_MEMBERS)
    seed: int | None = Field(
        default=None, description="Fixes the judge's (and debate's) shuffling of the answers"
    )
    n: int | None = Field(default=None, ge=1, description="Only 1: a fused answer is one answer")
    user: str | None = Field(
        default=None, max_length=256, description="The end user; stored only as a keyed hash"
    )
    response_format: dict[str, Any] | None = Field(
        default=None, description='Only {"type": "text"}.'
    )
    logprobs: bool | None = Field(default=None, description="Only false.")
    top_logprobs: int | None = Field(default=None, description=_UNSUPPORTED)
    tools: list[dict[str, Any]] | None = Field(default=None, description=_UNSUPPORTED)
    tool_choice: str | dict[str, Any] | None = Field(default=None, description='Only "none".')
    parallel_tool_calls: bool | None = Field(
        default=None, description="Accepted; without tools it has no effect."
    )
    functions: list[dict[str, Any]] | None = Field(default=None, description=_UNSUPPORTED)
    function_call: str | dict[str, Any] | None = Field(default=None, description=_UNSUPPORTED)
    evofuse: EvofuseOptions | None = None


class FeedbackRequest(_Strict):
    run_id: str = Field(min_length=1, max_length=64)
    score: float = Field(ge=0, le=1, description="0 = useless … 1 = perfect")
    comment: str | None = Field(default=None, max_length=10_000)
    user: str | None = Field(
        default=None,
        max_length=256,
        description="Who rates (default: the run's own user); stored only as a keyed hash",
    )


class RollbackRequest(_Strict):
    to: int | None = Field(
        default=None, ge=1, description="The version to serve (default: the active one's parent)"
    )


# -- responses --------------------------------------------------------------------------------


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class SkillRef(BaseModel):
    name: str | None
    version: int | None


class StepOut(BaseModel):
    index: int
    name: str
    mode: str | None
    cost_usd: float | None = None
    latency_ms: float | None = None
    degraded: bool = False
    # Mode `auto` only: the mode it chose for the step, why, and the evidence it weighed.
    mode_choice: ModeChoice | None = None


class EvofuseObject(BaseModel):
    """What fusion did for this answer (the `evofuse` object); the last step's pool.

    `candidates` and `judge` hold the engine's own `CandidateResult`s and `JudgeResult`, and
    serialise as their summaries (the fields declared here), so no copy is made of them.
    """

    run_id: str
    graph: str
    mode: str | None
    profile: str | None
    skill: SkillRef | None
    candidates: list[CandidateSummary]
    judge: JudgeSummary | None
    cost_usd: float | None = Field(description="Every call of every step; null if any is unpriced")
    latency_ms: float
    degraded: bool = False
    steps: list[StepOut] = Field(default_factory=list)


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    logprobs: None = None
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: None = None
    evofuse: EvofuseObject


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "evofuse"
    kind: Literal["graph", "fusion"]
    mode: str | None = None
    members: list[str] | None = None
    judge: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class FeedbackOut(BaseModel):
    object: Literal["feedback"] = "feedback"
    id: int
    run_id: str
    score: float
    comment: str | None
    created_at: datetime


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    version: str
    # "warming" for the first seconds after start: requests are served, and the first model call
    # waits for the model library to finish loading (never counted in a member's latency).
    models: Literal["warming", "ready"] = "ready"


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail

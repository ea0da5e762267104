"""OpenAI request parameters: which go to the pool members, and which are refused (and why)."""

from __future__ import annotations

from typing import Any

from evofuse.api.errors import ApiError
from evofuse.api.schemas import ChatCompletionRequest

# Parameters that go to every pool member unchanged (LiteLLM translates them per provider).
_MEMBER_PARAMS = (
    "temperature",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "seed",
)


def refuse_unsupported(request: ChatCompletionRequest) -> None:
    """Raise a 400 naming the first parameter EvoFuse cannot honour, and why."""

    def refuse(param: str, why: str) -> ApiError:
        return ApiError(
            400, f"`{param}` is not supported: {why}", code="unsupported_parameter", param=param
        )

    if request.n not in (None, 1):
        raise refuse("n", "a fused answer is one answer; send n requests for n answers.")
    if request.tools or request.functions:
        param = "tools" if request.tools else "functions"
        raise refuse(
            param,
            "EvoFuse graphs do not call client-side tools; describe the task "
            "in the messages instead.",
        )
    for param in ("tool_choice", "function_call"):
        if getattr(request, param) not in (None, "none"):
            raise refuse(param, 'there are no tools to call; omit it or send "none".')
    if request.response_format and request.response_format.get("type") != "text":
        raise refuse(
            "response_format",
            "the judge writes the fused answer as text; ask for "
            "JSON in the prompt instead, or omit response_format.",
        )
    if request.logprobs or request.top_logprobs is not None:
        param = "logprobs" if request.logprobs else "top_logprobs"
        raise refuse(param, "a fused answer has no single token distribution.")
    if request.stream_options is not None and not request.stream:
        raise refuse("stream_options", "it only applies with stream: true.")
    if isinstance(request.stop, list) and len(request.stop) > 4:
        raise refuse("stop", "at most 4 stop sequences.")


def member_params(request: ChatCompletionRequest) -> dict[str, Any]:
    """The parameters every pool member gets (`max_completion_tokens` becomes `max_tokens`)."""
    params = {name: getattr(request, name) for name in _MEMBER_PARAMS}
    params = {name: value for name, value in params.items() if value is not None}
    max_tokens = request.max_completion_tokens or request.max_tokens
    if (
        request.max_tokens
        and request.max_completion_tokens
        and (request.max_tokens != request.max_completion_tokens)
    ):
        raise ApiError(
            400,
            "max_tokens and max_completion_tokens differ; send one of them.",
            code="conflicting_parameters",
            param="max_completion_tokens",
        )
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    return params

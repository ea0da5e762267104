"""OpenAI request parameters: the fusion options they become, and those refused (and why)."""

from __future__ import annotations

from pydantic import ValidationError

from evofuse.api.errors import ApiError
from evofuse.api.schemas import ChatCompletionRequest
from evofuse.options import FusionOptions, ModelSettings, invalid_options


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


def fusion_options(request: ChatCompletionRequest, profile: str | None) -> FusionOptions:
    """The request's fusion options, typed once here: its model settings (every pool member
    gets them; `max_completion_tokens` becomes `max_tokens`), `seed` (the judge's shuffle)
    and the `evofuse` overrides. The profile's own rules are applied when the engine
    resolves it (`FusionEngine.estimate`, before the request is admitted)."""
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
    overrides = request.evofuse
    stop = (
        request.stop
        if request.stop is None or isinstance(request.stop, str)
        else tuple(request.stop)
    )
    try:
        return FusionOptions(
            profile=profile,
            mode=overrides.mode if overrides else None,
            models=tuple(overrides.models) if overrides and overrides.models else None,
            judge=overrides.judge if overrides else None,
            deadline_s=overrides.deadline_s if overrides else None,
            seed=request.seed,
            sampling=ModelSettings(
                temperature=request.temperature,
                top_p=request.top_p,
                max_tokens=max_tokens,
                stop=stop,
                presence_penalty=request.presence_penalty,
                frequency_penalty=request.frequency_penalty,
                logit_bias=request.logit_bias,
            ),
        )
    except ValidationError as exc:  # the request schema has the same bounds: a safety net
        error = invalid_options(exc, "options")
        raise ApiError(400, error.message, code="invalid_request", param=error.param) from None


# The request field behind each field of FusionOptions, for errors the engine raises.
_REQUEST_FIELDS = {
    "profile": "evofuse.profile",
    "mode": "evofuse.mode",
    "models": "evofuse.models",
    "judge": "evofuse.judge",
    "deadline_s": "evofuse.deadline_s",
}


def request_param(options_field: str | None) -> str | None:
    """The request field an options field came from (`models` → `evofuse.models`)."""
    if options_field is None:
        return None
    return _REQUEST_FIELDS.get(options_field, options_field.removeprefix("sampling."))

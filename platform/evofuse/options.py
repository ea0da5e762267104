"""The options of one fusion call, typed: validated once where a request enters, then passed as is.

A request's options enter at an edge: the HTTP API (`evofuse.api.params.fusion_options`), the
CLI's flags, a LangGraph client's context (`evofuse.runtime.defaults`), or Python code that
builds a `FusionOptions` itself. From there they travel typed through `Runner` → the graph's
nodes → `FusionEngine` → the model gateway: nothing on that path takes `**kwargs`, so an option
reaches the place that uses it by its field, never because a keyword happens to match.

This module sits below `fusion/`, `runtime/` and `llm/` (it imports only the configuration's
`FusionMode`), so every layer can import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evofuse.config.models import FusionMode
from evofuse.errors import UserError

MAX_STOP_SEQUENCES = 4


class ModelSettings(BaseModel):
    """Settings of one model call: what the request sets for every pool member, or what the
    engine sets for its own calls (the judge's `temperature: 0` and `response_format`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: str | tuple[str, ...] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    # Structured output (the judge's verdict, evolution's proposals); never from a request.
    response_format: dict[str, Any] | None = None
    # LiteLLM's `drop_params`: a provider that does not support a setting gets the call without
    # it instead of failing (the judge and evolution ask for structured output this way).
    drop_params: bool = False

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, value: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        if isinstance(value, tuple) and len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        return value

    def call_kwargs(self) -> dict[str, Any]:
        """The settings that are set, as keyword arguments of an OpenAI-style completion."""
        kwargs: dict[str, Any] = self.model_dump(exclude_none=True, exclude={"drop_params"})
        if isinstance(self.stop, tuple):
            kwargs["stop"] = list(self.stop)
        if self.drop_params:
            kwargs["drop_params"] = True
        return kwargs


class FusionOptions(BaseModel):
    """Per-call options of a fusion step: which profile, overrides of it, and model settings.

    `mode`, `models` and `judge` override the profile for this call; the result is validated
    by the profile's own rules (`evofuse.config.models.FusionProfile`) when the engine resolves
    it, exactly as a profile of the configuration file is. `seed` fixes the judge's (and
    debate's) shuffling of the answers, never the members' sampling. `deadline_s` bounds a
    whole run (every member, judge and step), replacing the profile's `deadline_s`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: str | None = Field(default=None, min_length=1)
    mode: FusionMode | None = None
    models: tuple[str, ...] | None = Field(default=None, min_length=1)
    judge: str | None = Field(default=None, min_length=1)
    seed: int | None = None
    deadline_s: float | None = Field(default=None, gt=0)
    sampling: ModelSettings = ModelSettings()

    @classmethod
    def parse(cls, values: dict[str, Any], *, where: str = "options") -> FusionOptions:
        """Options from untyped input (a client's JSON, a script's dict), or a `UserError`
        naming each field at fault."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise invalid_options(exc, where) from None

    def replace(self, *, where: str = "options", **changes: Any) -> FusionOptions:
        """A copy with some fields changed, validated like a new one (a `UserError` naming the
        fields at fault, under `where`)."""
        return FusionOptions.parse({**self.model_dump(), **changes}, where=where)


DEFAULT_OPTIONS = FusionOptions()


def with_shorthand(
    options: FusionOptions | None,
    *,
    profile: str | None = None,
    mode: FusionMode | str | None = None,
    models: Sequence[str] | None = None,
    judge: str | None = None,
    seed: int | None = None,
) -> FusionOptions:
    """`options` (default: none) with the fields a Python caller gave as keywords, validated
    (`FusionEngine.run(messages, mode="best-of")` is the same call as with
    `FusionOptions(mode="best-of")`); a `UserError` names a field at fault."""
    given = {"profile": profile, "mode": mode, "models": models, "judge": judge, "seed": seed}
    given = {k: v for k, v in given.items() if v is not None}
    base = options or DEFAULT_OPTIONS
    if not given:
        return base
    return FusionOptions.parse({**base.model_dump(), **given})


def invalid_options(exc: ValidationError, where: str) -> UserError:
    """A `UserError` for options that failed validation, naming every field at fault."""
    problems = []
    params = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        field = f"{where}.{loc}" if loc else where
        params.append(field)
        problem = f"{field}: {error['msg'].removeprefix('Value error, ')}"
        given = error.get("input")
        if isinstance(given, str | int | float) and not isinstance(given, bool):
            problem += f" (got {str(given)[:80]!r})"  # what was sent, so a typo shows itself
        problems.append(problem)
    return UserError(
        "Invalid options: " + "; ".join(problems),
        hint="Fix or remove the fields named above.",
        param=params[0] if params else None,
    )

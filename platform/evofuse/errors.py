"""The exception tree: every error EvoFuse raises on purpose derives from `EvoFuseError`.

`UserError` marks mistakes the caller can fix (bad config, unknown profile, a request over budget);
its message always says what to do next. Each error carries a stable `code` and the HTTP status
the API maps it to, so the CLI and the HTTP layer never have to guess.
"""

from __future__ import annotations

from typing import Any


class EvoFuseError(Exception):
    """Base of every error EvoFuse raises deliberately."""

    code = "evofuse_error"
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\nHint: {self.hint}" if self.hint else self.message


class UserError(EvoFuseError):
    """A mistake in what the caller asked for; the message says how to fix it."""

    code = "invalid_request"
    http_status = 400


class ConfigError(UserError):
    """The configuration file (or an EVOFUSE_* variable) is invalid."""

    code = "invalid_config"


class UnknownProfileError(UserError):
    """A fusion profile or model name that the configuration does not define."""

    code = "unknown_profile"
    http_status = 404


class BudgetExceededError(UserError):
    """The request cannot fit in the profile's `max_cost_usd`."""

    code = "budget_exceeded"
    http_status = 400


class FusionError(EvoFuseError):
    """A fusion step could not produce an answer."""

    code = "fusion_failed"
    http_status = 502


class AllMembersFailedError(FusionError):
    """Every pool member failed: there is no answer to judge, so there is no answer at all."""

    code = "all_members_failed"
    http_status = 502

    def __init__(self, failures: list[Any]) -> None:
        self.failures = failures
        lines = [f"  - {f.model}: {f.status}: {f.error}" for f in failures]
        super().__init__(
            "Every model in the pool failed:\n" + "\n".join(lines),
            hint="Check the API keys and api_base of these models in model_list, "
            "or raise fusion.profiles.<name>.timeout_s if they timed out.",
        )


class DeadlineExceededError(FusionError):
    """The overall deadline passed before an answer was ready."""

    code = "deadline_exceeded"
    http_status = 504


class StaleVersionError(UserError):
    """A change was made for a skill version that is no longer the active one."""

    code = "stale_version"
    http_status = 409

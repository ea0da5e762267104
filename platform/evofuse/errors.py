"""The exception tree: every error EvoFuse raises on purpose derives from `EvoFuseError`.

`UserError` marks mistakes the caller can fix (bad config, unknown profile, a request over budget);
its message always says what to do next. Each error carries a stable `code` and the HTTP status
the API maps it to, so the CLI and the HTTP layer never have to guess; `param` names the request
field at fault when there is one (OpenAI's error `param`).

Every error a caller may see lives here, whichever package raises it, so a caller catches them
from one module. What stays elsewhere is control flow a package catches itself (a lost lease,
an exhausted evolution budget, an unparseable proposal) and the HTTP layer's own `ApiError`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal


class EvoFuseError(Exception):
    """Base of every error EvoFuse raises deliberately."""

    code = "evofuse_error"
    http_status = 500

    param: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if param is not None:
            self.param = param

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
    """The run's overall deadline passed before an answer was ready."""

    code = "deadline_exceeded"
    http_status = 504

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        super().__init__(
            f"The run did not finish within its deadline of {deadline_s:g} s "
            "(members, judge and every step together).",
            hint="Raise fusion.profiles.<name>.deadline_s (or the request's evofuse.deadline_s), "
            "or lower the profile's timeout_s so a slow member is given up on sooner.",
        )


CallStatus = Literal["error", "timeout"]


class LLMCallError(EvoFuseError):
    """One model call that failed; `message` is safe to show and store (secrets redacted).

    The fusion engine catches it per member (the others are the redundancy); it reaches a
    caller only from a direct gateway call.
    """

    code = "model_call_failed"
    http_status = 502

    def __init__(self, model: str, status: CallStatus, message: str, latency_ms: float) -> None:
        super().__init__(message)
        self.model = model
        self.status: CallStatus = status
        self.latency_ms = latency_ms

    def __str__(self) -> str:
        return f"{self.model}: {self.status}: {self.message}"


class EmbeddingCallError(EvoFuseError):
    """The embedding provider failed or answered with something that is not an embedding."""

    code = "embedding_failed"
    http_status = 502


# -- skills ---------------------------------------------------------------------------------------


class SkillNotFoundError(UserError):
    code = "skill_not_found"
    http_status = 404


class EmbeddingMismatchError(UserError):
    """The index was built by another embedding backend or dimension."""

    code = "embedding_mismatch"
    http_status = 409


class ModelMissingError(UserError):
    """The bundled embedding model is not installed."""

    code = "embedding_model_missing"


class BundleError(UserError, ValueError):
    """A bundle path or size that is not allowed (a ValueError too, as it always was)."""

    code = "invalid_bundle"


# -- runs and graphs ------------------------------------------------------------------------------


class UnknownGraphError(UserError):
    code = "unknown_graph"
    http_status = 404


class GraphLoadError(EvoFuseError):
    """A registered graph could not be imported or is not a compiled graph."""

    code = "graph_load_failed"
    http_status = 500


class RunNotFoundError(UserError):
    """No run with that id (for this tenant, when one is given)."""

    code = "run_not_found"
    http_status = 404
    param = "run_id"

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"No run {run_id!r}.", hint="`evofuse runs list` or GET /v1/runs lists the runs."
        )


# -- input checks ---------------------------------------------------------------------------------


class UnsafeTextError(UserError):
    """Text with a character that cannot be stored or has no place in a prompt."""

    code = "invalid_characters"

    def __init__(self, where: str, position: int, character: str) -> None:
        """`character` describes the character (`textcheck.describe`), never echoes text."""
        self.where, self.position = where, position
        super().__init__(
            f"{where} contains {character} at character {position}.",
            hint="Remove control characters (tab, newline and carriage return are allowed) "
            "and send text as valid UTF-8.",
        )


class SuiteError(UserError):
    """An eval suite that cannot be read: the message names the file, the line and the fix."""

    code = "invalid_suite"


# -- the embedded local model ---------------------------------------------------------------------


class LocalModelSetupError(UserError):
    """The local model cannot start because of something the user can fix (install, path, port)."""

    code = "local_model_setup"


class LocalModelStartError(EvoFuseError):
    """The local model server was started but did not become ready."""

    code = "local_model_start_failed"
    http_status = 503


# -- evolution ------------------------------------------------------------------------------------


class LeaseHeldError(UserError):
    """Another process holds the evolution lease: one cycle at a time."""

    code = "evolution_running"
    http_status = 409

    def __init__(self, holder: str, cycle_id: int | None, since: datetime, until: datetime):
        self.holder, self.cycle_id, self.since, self.until = holder, cycle_id, since, until
        cycle = f" (cycle {cycle_id})" if cycle_id is not None else ""
        super().__init__(
            f"An evolution cycle is already running{cycle}: the lease is held by {holder} "
            f"since {since.isoformat(timespec='seconds')}.",
            hint="Wait for it to finish. A holder that died on this host is replaced at once; "
            f"one on another host keeps the lease until {until.isoformat(timespec='seconds')}.",
        )


class CycleNotFoundError(UserError):
    code = "evolution_run_not_found"
    http_status = 404


class WorkerClosedError(EvoFuseError):
    """The server is shutting down and starts no new cycle."""

    code = "shutting_down"
    http_status = 503


class StaleVersionError(UserError):
    """A change was made for a skill version that is no longer the active one."""

    code = "stale_version"
    http_status = 409

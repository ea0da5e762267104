"""The seams of a run: the ports the runtime calls and the values that cross them.

The runtime (`evofuse.runtime`) asks a `SkillChooser` for a skill and tells a `RunRecorder` what
happened; the skill library and the store implement them, and the composition root
(`evofuse.services`) plugs them in. Both sides import this module and it imports neither, so the
lower layers never depend on the runtime (as LangGraph's savers depend on a small checkpoint base
package, not the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypedDict

if TYPE_CHECKING:
    from evofuse.fusion import FusionResult


class StepSpec(TypedDict, total=False):
    """One phase of a skill: its name, what to do, and optionally the fusion mode to do it in."""

    name: str
    instruction: str
    mode: str | None


class SkillChoice(TypedDict, total=False):
    """The skill version the Selector chose for this run."""

    name: str
    version: int
    version_id: int  # primary key of the exact version row: outcomes are credited to it
    instructions: str  # the SKILL.md body, given to every member as extra instructions
    mode: str | None  # the skill's preferred fusion mode
    steps: list[StepSpec]
    score: float  # the Selector's ranking score (for the record and the live view)
    scope: str  # global | tenant | user
    reason: str  # why the Selector chose it, in words (shown by `run` and `demo`)


@dataclass(frozen=True)
class RunInfo:
    """What a recorder learns about a run when it starts (before any model call)."""

    graph_id: str = "custom"
    tenant: str | None = None
    user: str | None = None  # already hashed: raw end-user ids never reach the store
    thread_id: str | None = None
    task: str | None = None  # the last user message, kept for evolution (scrubbed there)
    api_key_id: str | None = None  # the key the server authenticated; None outside the API


class SkillChooser(Protocol):
    """Picks the skill version for a task (implemented by `evofuse.skills`)."""

    def choose(
        self, task: str, *, tenant: str | None, user: str | None, skill: str | None
    ) -> SkillChoice | None: ...


class RunRecorder(Protocol):
    """Durably records runs as they happen (implemented by `evofuse.store`)."""

    def start(self, run_id: str, run: RunInfo) -> None: ...

    def skill_chosen(self, run_id: str, skill: SkillChoice | None) -> None: ...

    def step_finished(self, run_id: str, index: int, name: str, result: FusionResult) -> None: ...

    def step_failed(self, run_id: str, index: int, name: str, error: BaseException) -> None: ...

    def finish(self, run_id: str, status: str, error: str | None = None) -> None: ...

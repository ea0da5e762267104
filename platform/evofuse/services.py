"""The composition root: one place that builds EvoFuse's parts from a configuration.

The CLI, the HTTP API and the scheduler all start from `Services.from_settings(settings)`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from evofuse.config import Settings

if TYPE_CHECKING:
    from evofuse.fusion import FusionEngine
    from evofuse.identity import UserHasher
    from evofuse.ports import SkillChooser
    from evofuse.runtime.runner import Runner
    from evofuse.skills.library import Library
    from evofuse.store import Store
    from evofuse.store.recorder import SqlRunRecorder


class Services:
    """Lazily built, shared parts of one deployment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        return cls(settings)

    @cached_property
    def store(self) -> Store:
        from evofuse.store import Store

        return Store(self.settings.storage.database_url)

    @cached_property
    def recorder(self) -> SqlRunRecorder:
        from evofuse.store.recorder import SqlRunRecorder

        return SqlRunRecorder(self.store)

    def mark_interrupted_runs(self) -> int:
        """Mark the runs a dead process left `running` as `interrupted`; return how many.

        Called by each host as it starts running graphs (the API, `evofuse run`, LangGraph's
        server through `evofuse.runtime.defaults`), so such runs are never silently missing.
        """
        return self.recorder.mark_interrupted()

    @cached_property
    def engine(self) -> FusionEngine:
        from evofuse.fusion import FusionEngine
        from evofuse.fusion.auto import ModeChooser
        from evofuse.store.mode_outcomes import SqlModeEvidence

        # Mode `auto` reads rated runs from the store, opened only when `auto` first runs.
        evidence = SqlModeEvidence(lambda: self.store)
        return FusionEngine(self.settings, mode_chooser=ModeChooser(evidence))

    @cached_property
    def library(self) -> Library:
        """The skill library, with the seed skills of `skills.dir` imported (unchanged ones are
        recognized by their content hash and cost no new version)."""
        from evofuse.skills.library import Library
        from evofuse.skills.transfer import import_path
        from evofuse.store import Origin

        library = Library.from_settings(self.settings)
        if self.settings.skills.dir.is_dir():
            import_path(library, self.settings.skills.dir, origin=Origin.SEED)
        return library

    @cached_property
    def selector(self) -> SkillChooser:
        from evofuse.skills.selector import LibrarySkillChooser

        return LibrarySkillChooser(self.library)

    @cached_property
    def hasher(self) -> UserHasher:
        from evofuse.identity import UserHasher

        return UserHasher()

    def runner(self, *, checkpoints: bool = True) -> Runner:
        """A Runner (use it as `async with services.runner() as runner:`); `checkpoints`
        off for a host whose requests carry the whole conversation (the HTTP API)."""
        from evofuse.runtime.runner import Runner

        return Runner(
            self.settings,
            engine=self.engine,
            selector=self.selector,
            recorder=self.recorder,
            hasher=self.hasher,
            checkpoints=checkpoints,
        )

    def close(self) -> None:
        if "library" in self.__dict__:
            self.library.close()
        if "store" in self.__dict__:
            self.store.close()

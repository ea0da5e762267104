"""Whether every worker of `evofuse serve --workers N` has warmed up.

Each worker is its own process and answers `/healthz` for itself, and a load balancer's probe
reaches whichever worker accepts the connection. So one warm worker must not report `models:
ready` while another is still loading: `serve` hands the workers a folder, each worker leaves a
file named after its pid there once warm, and a worker reports ready only when as many live
workers as were started have done so. (A worker that died and was replaced leaves a file with a
dead pid, which does not count.) A single process reports its own state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

READY_DIR_ENV = "EVOFUSE_WORKERS_READY_DIR"
WORKERS_ENV = "EVOFUSE_WORKERS"


@dataclass(frozen=True)
class WorkerReadiness:
    folder: Path | None = None  # None: a single process, nothing to share
    workers: int = 1

    @classmethod
    def from_env(cls) -> WorkerReadiness:
        folder = os.environ.get(READY_DIR_ENV)
        if not folder:
            return cls()
        return cls(Path(folder), max(1, int(os.environ.get(WORKERS_ENV) or "1")))

    def mark_ready(self) -> None:
        """This worker has warmed up."""
        if self.folder is not None:
            (self.folder / str(os.getpid())).touch()

    def all_ready(self, this_worker_ready: bool) -> bool:
        """This worker is warm and, under several workers, so are as many live ones as started."""
        if not this_worker_ready:
            return False
        if self.folder is None:
            return True
        try:
            names = [p.name for p in self.folder.iterdir()]
        except OSError:  # the folder is gone: the server is shutting down
            return False
        return sum(_alive(name) for name in names) >= self.workers


def _alive(name: str) -> bool:
    if not name.isdigit():
        return False
    if os.name == "nt":  # os.kill would end the process there, not ask about it
        return True
    try:
        os.kill(int(name), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True

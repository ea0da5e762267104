"""Evolution cycles started over HTTP run on a thread of their own, never on the server's loop.

A cycle has long synchronous phases (SQL aggregation, scrubbing, embedding and clustering the
task pool: seconds on a large history). On the event loop that serves chat they would stall every
request meanwhile, so each cycle gets a thread with its own event loop (and its own fusion engine,
so no LiteLLM client is shared between two loops). The worker belongs to the app: the lifespan
closes it on shutdown, which cancels a running cycle at its next await — its report is stored as
`stopped` and the lease released — and waits for the thread to end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evofuse.errors import WorkerClosedError

if TYPE_CHECKING:
    from evofuse.evolution.cycle import EvolutionCycle
    from evofuse.fusion import FusionEngine
    from evofuse.services import Services

logger = logging.getLogger(__name__)


@dataclass
class _Running:
    cycle: EvolutionCycle
    thread: threading.Thread | None = None
    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task[object] | None = None
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        """Ask the cycle to stop; safe from any thread, before or after its loop started."""
        with self.lock:
            self.cancelled = True
            if self.loop is not None and self.task is not None:
                self.loop.call_soon_threadsafe(self.task.cancel)


def _lower_priority(nice: int) -> None:
    """Give this thread (only) a lower OS priority: Linux schedules threads one by one, so
    `setpriority` on the thread id leaves the serving threads alone. Chat then gets the cores
    first while the cycle's CPU-heavy phases (NumPy, tokenizers and SQLite release the GIL
    there) take what is left. Where threads cannot be prioritised, the cycle runs as before."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except OSError as exc:
        logger.info("evolution cycle keeps its priority: %s", exc)


class CycleWorker:
    """Starts API-triggered cycles on their own threads; `aclose()` stops them on shutdown."""

    def __init__(self, services: Services, *, stop_timeout_s: float = 30.0) -> None:
        self._services = services
        self._stop_timeout_s = stop_timeout_s
        self._lock = threading.Lock()
        self._running: dict[int, _Running] = {}
        self._closed = False
        self._engine: FusionEngine | None = None

    @property
    def running(self) -> list[int]:
        """Ids of the cycles this process is running now."""
        with self._lock:
            return sorted(self._running)

    def start(self, *, dry_run: bool) -> int:
        """Take the lease, record the cycle and start it; returns its id at once.

        Blocking (it writes to SQL): call it from a worker thread. Raises `LeaseHeldError`
        when another cycle holds the lease, `WorkerClosedError` during shutdown.
        """
        from evofuse.evolution.cycle import EvolutionCycle

        with self._lock:
            if self._closed:
                raise WorkerClosedError(
                    "The server is shutting down and starts no evolution cycle.",
                    hint="Start it again on a running replica, or with `evofuse evolve`.",
                )
        services = self._services
        cycle = EvolutionCycle(
            services.settings,
            store=services.store,
            library=services.library,
            engine=self._fusion_engine(),
            trigger="api",
            dry_run=dry_run,
        )
        cycle_id = cycle.open()
        running = _Running(cycle)
        running.thread = threading.Thread(
            target=self._run, args=(running,), name=f"evolution-cycle-{cycle_id}", daemon=True
        )
        with self._lock:
            self._running[cycle_id] = running
            closing = self._closed
        if closing:  # shutdown began while we opened it: run() still stores it as stopped
            running.cancel()
        running.thread.start()
        return cycle_id

    def _fusion_engine(self) -> FusionEngine:
        with self._lock:
            if self._engine is None:
                from evofuse.fusion import FusionEngine

                self._engine = FusionEngine(self._services.settings)
            return self._engine

    def _run(self, running: _Running) -> None:
        cycle_id = running.cycle.id
        _lower_priority(self._services.settings.evolution.api_thread_nice)
        try:
            asyncio.run(self._main(running))
        except asyncio.CancelledError:
            logger.info("evolution cycle %s stopped: the server is shutting down", cycle_id)
        except Exception:
            # run() stores every failure in the report; this is a bug in the worker itself.
            logger.exception("evolution cycle %s: the worker thread failed", cycle_id)
        finally:
            with self._lock:
                self._running.pop(cycle_id or 0, None)

    async def _main(self, running: _Running) -> None:
        task = asyncio.current_task()
        assert task is not None
        with running.lock:
            running.loop, running.task = asyncio.get_running_loop(), task
            if running.cancelled:
                task.cancel()  # delivered at run()'s first await, which stores the report
        report = await running.cycle.run()
        logger.info("evolution cycle %s %s: %s", report.id, report.status, report.summary())

    async def aclose(self) -> None:
        """Start no new cycle, cancel running ones and wait (at most `stop_timeout_s`)."""
        with self._lock:
            self._closed = True
            running = list(self._running.values())
        for r in running:
            r.cancel()
        await asyncio.to_thread(self._join, running)

    def _join(self, running: list[_Running]) -> None:
        for r in running:
            if r.thread is not None:
                r.thread.join(self._stop_timeout_s)
                if r.thread.is_alive():
                    # A synchronous phase that outlasts the timeout: the process exits anyway
                    # (daemon thread); the lease expires and the next cycle marks this one failed.
                    logger.warning(
                        "evolution cycle %s did not stop within %.0f s",
                        r.cycle.id,
                        self._stop_timeout_s,
                    )

"""Collective skill evolution: evidence from many users becomes better skills, safely.

The functions below are what the CLI, the scheduler and the HTTP API call:

- `trigger_cycle(services, dry_run=…, trigger=…)` runs one cycle and returns its report; it
  raises `LeaseHeldError` (HTTP 409) when another cycle is running, naming the holder.
- `open_cycle(services, …)` takes the lease and returns the `EvolutionCycle` with its `id` at
  once; `await cycle.run()` then does the work (for an API that answers 202 with the id).
- `list_cycles(store, limit=…)` and `get_cycle(store, id)` read stored reports; an unknown id
  raises `CycleNotFoundError` (HTTP 404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evofuse.errors import CycleNotFoundError, LeaseHeldError
from evofuse.evolution.report import CycleReport, CycleSummary

if TYPE_CHECKING:
    from evofuse.evolution.cycle import EvolutionCycle, Progress
    from evofuse.services import Services
    from evofuse.store import Store

__all__ = [
    "CycleNotFoundError",
    "CycleReport",
    "CycleSummary",
    "LeaseHeldError",
    "get_cycle",
    "list_cycles",
    "open_cycle",
    "trigger_cycle",
]


def open_cycle(
    services: Services,
    *,
    dry_run: bool = False,
    trigger: str = "api",
    progress: Progress | None = None,
) -> EvolutionCycle:
    """A cycle that holds the lease and has its id; run it with `await cycle.run()`."""
    from evofuse.evolution.cycle import EvolutionCycle

    cycle = EvolutionCycle.from_services(
        services, trigger=trigger, dry_run=dry_run, progress=progress
    )
    cycle.open()
    return cycle


async def trigger_cycle(
    services: Services,
    *,
    dry_run: bool = False,
    trigger: str = "api",
    progress: Progress | None = None,
) -> CycleReport:
    """Run one cycle now and return its stored report."""
    return await open_cycle(services, dry_run=dry_run, trigger=trigger, progress=progress).run()


def list_cycles(store: Store, *, limit: int = 20) -> list[CycleSummary]:
    """Stored cycles, newest first."""
    from evofuse.store.evolution import aware, list_cycle_rows

    return [
        CycleSummary(
            id=row.id or 0,
            status=row.status,
            trigger=row.trigger,
            dry_run=row.dry_run,
            started_at=aware(row.started_at),
            finished_at=aware(row.finished_at) if row.finished_at else None,
            cost_usd=row.cost_usd,
            summary=row.summary,
        )
        for row in list_cycle_rows(store, limit=limit)
    ]


def get_cycle(store: Store, cycle_id: int) -> CycleReport:
    """One cycle's full report (a cycle still running has a partial one)."""
    from evofuse.store.evolution import aware, load_cycle

    row = load_cycle(store, cycle_id)
    if row.report:
        return CycleReport.model_validate(row.report)
    return CycleReport(
        id=cycle_id,
        status=row.status,
        trigger=row.trigger,
        dry_run=row.dry_run,
        started_at=aware(row.started_at),
        finished_at=aware(row.finished_at) if row.finished_at else None,
        profile="",
        budget_usd=None,
        error=row.error,
    )

"""`evolution.schedule` (a crontab line, UTC) run by APScheduler inside `evofuse scheduler`.

Several schedulers may run (one per machine, say); the database lease lets one cycle through
at a time and the others log who holds it and wait for their next turn. With
`storage.retention_days` set, the same scheduler also applies the retention policy daily
(`storage.retention_schedule`); running it twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from evofuse.errors import ConfigError, LeaseHeldError
from evofuse.evolution.report import CycleReport

if TYPE_CHECKING:
    from evofuse.services import Services

logger = logging.getLogger(__name__)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(schedule: str, key: str = "evolution.schedule") -> Any:
    """APScheduler's CronTrigger for `evolution.schedule`; a bad line is a ConfigError.

    APScheduler 3 numbers weekdays from Monday = 0, crontab from Sunday = 0 (its own
    `from_crontab` passes the numbers through unchanged), so weekday numbers become names first.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = schedule.split()
    try:
        if len(fields) != 5:
            raise ValueError(f"expected 5 fields, got {len(fields)}")
        minute, hour, day, month, weekday = fields
        weekday = re.sub(r"(?<![/\d])[0-7](?!\d)", lambda m: _WEEKDAYS[int(m[0])], weekday)
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=weekday,
            timezone="UTC",
        )
    except ValueError as exc:
        raise ConfigError(
            f"{key} {schedule!r} is not a crontab line: {exc}",
            hint='Use five fields: minute hour day month weekday, e.g. "0 */6 * * *".',
        ) from None


def scheduled_cycle(services: Services) -> CycleReport | None:
    """The scheduler's job: one cycle, or None when another process holds the lease."""
    from evofuse.evolution import trigger_cycle

    try:
        report = asyncio.run(trigger_cycle(services, trigger="scheduler"))
    except LeaseHeldError as exc:
        logger.warning("evolution cycle skipped: %s", exc.message)
        return None
    logger.info("evolution cycle %s %s: %s", report.id, report.status, report.summary())
    return report


def scheduled_retention(services: Services) -> None:
    """The scheduler's daily job when `storage.retention_days` is set."""
    from evofuse.governance.retention import apply_retention

    report = apply_retention(services.settings, services.store, actor="scheduler")
    if report is not None:
        logger.info("retention: %s", report.summary())


def run_scheduler(
    services: Services,
    *,
    on_start: Callable[[datetime], None] | None = None,
    now: bool = False,
) -> None:
    """Run cycles on `evolution.schedule` until interrupted; `on_start` gets the first run time.

    `now` also runs one cycle at once, before the first scheduled one (after a deploy, or to
    take over from a scheduler that died mid-cycle without waiting for the next slot).
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    trigger = cron_trigger(services.settings.evolution.schedule)
    scheduler = BlockingScheduler(timezone="UTC")
    # One cycle per process at a time; a run missed while the previous one lasted is dropped,
    # not queued up behind it.
    scheduler.add_job(
        scheduled_cycle,
        trigger,
        args=[services],
        id="evolution-cycle",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=60,
        **({"next_run_time": datetime.now(UTC)} if now else {}),
    )
    storage = services.settings.storage
    if storage.retention_days is not None:
        scheduler.add_job(
            scheduled_retention,
            cron_trigger(storage.retention_schedule, "storage.retention_schedule"),
            args=[services],
            id="retention",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
    if on_start is not None:
        start = datetime.now(UTC)
        on_start(start if now else trigger.get_next_fire_time(None, start))
    scheduler.start()

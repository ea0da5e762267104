"""Per-key limits: requests per minute and a daily budget in USD, with 429s that say when.

Admission and settlement are single SQL statements (`evofuse.store.keys`), so the limits hold
across workers and replicas that share the database.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from evofuse.api.auth import Principal
from evofuse.api.errors import ApiError
from evofuse.store import Store
from evofuse.store import keys as key_store

MINUTE = 60
DAY = 86_400


@dataclass(frozen=True)
class Reservation:
    """Budget held for one admitted request until it is settled."""

    key_id: str
    day: int
    reserved_usd: float


def admit(
    store: Store, principal: Principal, estimate_usd: float, *, now: float | None = None
) -> Reservation | None:
    """Count the request against the key's limits; raise a 429 (or 401) when it may not run."""
    if not principal.limited:
        return None
    assert principal.key_id is not None
    now = time.time() if now is None else now
    minute, day = int(now // MINUTE), int(now // DAY)
    reserve = estimate_usd if principal.daily_budget_usd is not None else 0.0
    if key_store.admit(store, principal.key_id, minute=minute, day=day, reserve_usd=reserve):
        if principal.daily_budget_usd is None:
            return None
        return Reservation(principal.key_id, day, reserve)
    raise _refusal(store, principal.key_id, minute, day, now)


def settle(store: Store, reservation: Reservation | None, cost_usd: float | None) -> None:
    """Release the reservation and charge the real cost (unpriced calls count as $0)."""
    if reservation is None:
        return
    key_store.settle(
        store,
        reservation.key_id,
        reserved_day=reservation.day,
        today=int(time.time() // DAY),
        reserved_usd=reservation.reserved_usd,
        spent_usd=cost_usd or 0.0,
    )


def _refusal(store: Store, key_id: str, minute: int, day: int, now: float) -> ApiError:
    """Why the conditional update matched no row: revoked, too many requests, or no budget."""
    row = key_store.get_key(store, key_id)
    if row is None or row.revoked_at is not None:
        return ApiError(401, "This API key was revoked.", code="invalid_api_key")
    if row.rpm is not None and row.rate_window == minute and row.rate_count >= row.rpm:
        reset = (minute + 1) * MINUTE
        wait = _wait(reset, now)
        return ApiError(
            429,
            f"Rate limit reached for key {key_id}: {row.rpm} requests per minute. "
            f"It resets at {_clock(reset)} UTC, in {wait} s; retry then, "
            "or ask for a key with a higher --rpm.",
            code="rate_limit_exceeded",
            type_="requests",
            headers={"Retry-After": str(wait)},
        )
    reset = (day + 1) * DAY
    wait = _wait(reset, now)
    spent = row.spent_usd + row.reserved_usd if row.budget_day == day else 0.0
    return ApiError(
        429,
        f"Daily budget reached for key {key_id}: ${spent:.4f} spent or reserved of "
        f"${row.daily_budget_usd or 0:.4f} per day. It resets at {_clock(reset)} UTC "
        f"(midnight), in {_duration(wait)}; or ask for a key with a higher --daily-budget-usd.",
        code="daily_budget_exceeded",
        type_="budget",
        headers={"Retry-After": str(wait)},
    )


def _wait(reset: int, now: float) -> int:
    return max(1, math.ceil(reset - now))


def _clock(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"

"""API keys, the per-key rate limit and daily budget: atomic on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Iterator

import pytest

from evofuse.options import FusionOptions
from evofuse.store import Store
from evofuse.store import keys as key_store
from evofuse.store.keys import create_key, find_key, get_key, hash_key, revoke_key
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)
from tests.unit.api.conftest import Api


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:  # noqa: F811
    store = Store(database_url)
    yield store
    store.close()


def race(workers: int, action: Callable[[], bool]) -> list[bool]:
    """Run `action` in `workers` threads released at the same instant."""
    barrier = threading.Barrier(workers)
    results: list[bool] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        outcome = action()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == workers
    return results


def test_keys_are_stored_hashed_and_found_by_their_secret(store: Store) -> None:
    new = create_key(store, tenant="acme", name="ci")
    assert new.secret.startswith("efk-") and len(new.secret) > 40
    row = get_key(store, new.row.id)
    assert row is not None and row.key_hash == hash_key(new.secret)
    assert new.secret not in str(row.model_dump())
    assert row.hint == new.secret[:12]
    found = find_key(store, new.secret)
    assert found is not None and found.tenant == "acme"
    assert find_key(store, new.secret + "x") is None
    revoke_key(store, new.row.id)
    assert find_key(store, new.secret) is None


def test_concurrent_requests_overshoot_the_budget_by_at_most_one(store: Store) -> None:
    key = create_key(store, tenant="acme", daily_budget_usd=1.0).row.id
    admitted = race(16, lambda: key_store.admit(store, key, minute=1, day=100, reserve_usd=0.3))
    # 0.0, 0.3, 0.6 and 0.9 are below the budget: exactly four requests get in.
    assert sum(admitted) == 4
    row = get_key(store, key)
    assert row is not None and row.reserved_usd == pytest.approx(1.2)
    assert row.reserved_usd - row.daily_budget_usd <= 0.3 + 1e-9  # type: ignore[operator]


def test_concurrent_requests_never_exceed_the_rate_limit(store: Store) -> None:
    key = create_key(store, tenant="acme", rpm=5).row.id
    admitted = race(16, lambda: key_store.admit(store, key, minute=7, day=1, reserve_usd=0))
    assert sum(admitted) == 5
    # The next minute is a new window.
    assert key_store.admit(store, key, minute=8, day=1, reserve_usd=0)


def test_settling_releases_the_reservation_and_charges_the_real_cost(store: Store) -> None:
    key = create_key(store, tenant="acme", daily_budget_usd=1.0).row.id
    assert key_store.admit(store, key, minute=1, day=5, reserve_usd=0.6)
    assert key_store.admit(store, key, minute=1, day=5, reserve_usd=0.6)
    assert not key_store.admit(store, key, minute=1, day=5, reserve_usd=0.6)
    key_store.settle(store, key, reserved_day=5, today=5, reserved_usd=0.6, spent_usd=0.1)
    key_store.settle(store, key, reserved_day=5, today=5, reserved_usd=0.6, spent_usd=0.2)
    row = get_key(store, key)
    assert row is not None
    assert row.spent_usd == pytest.approx(0.3) and row.reserved_usd == pytest.approx(0.0)
    assert key_store.admit(store, key, minute=2, day=5, reserve_usd=0.6)


def test_a_new_day_resets_the_budget_and_late_runs_count_for_it(store: Store) -> None:
    key = create_key(store, tenant="acme", daily_budget_usd=1.0).row.id
    assert key_store.admit(store, key, minute=1, day=5, reserve_usd=2.0)
    assert not key_store.admit(store, key, minute=1, day=5, reserve_usd=0.1)
    # The request admitted on day 5 finishes on day 6: it is charged to day 6.
    key_store.settle(store, key, reserved_day=5, today=6, reserved_usd=2.0, spent_usd=0.4)
    row = get_key(store, key)
    assert row is not None and row.budget_day == 6
    assert row.spent_usd == pytest.approx(0.4) and row.reserved_usd == 0
    assert key_store.admit(store, key, minute=2, day=6, reserve_usd=0.5)  # 0.4 + 0.5 < 1
    assert key_store.admit(store, key, minute=2, day=6, reserve_usd=0.5)  # 0.9 < 1
    assert not key_store.admit(store, key, minute=2, day=6, reserve_usd=0.5)


def test_revoked_keys_are_not_admitted(store: Store) -> None:
    key = create_key(store, tenant="acme", rpm=10).row.id
    revoke_key(store, key)
    assert not key_store.admit(store, key, minute=1, day=1, reserve_usd=0)


# -- over HTTP ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_api_key"),
        ("Bearer efk-wrong", "invalid_api_key"),
        ("Basic abc", "invalid_api_key"),
    ],
)
async def test_requests_without_a_valid_key_are_401(
    api: Api, header: str | None, code: str
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await api.client.post(
        "/v1/chat/completions",
        json={"model": "fusion/p", "messages": [{"role": "user", "content": "hi"}]},
        headers=headers,
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == code and error["type"] == "authentication_error"
    assert "evofuse keys create" in error["message"]
    for path in ("/v1/models", "/v1/runs/abc", "/v1/skills"):
        assert (await api.client.get(path, headers=headers)).status_code == 401
    assert api.upstream.requests == []


async def test_a_revoked_key_is_refused_at_once(api: Api) -> None:
    secret = api.key("temp")
    row = find_key(api.services.store, secret)
    assert row is not None
    assert (await api.chat("temp")).status_code == 200
    revoke_key(api.services.store, row.id)
    response = await api.chat("temp")
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


async def test_rate_limit_is_a_429_that_says_which_limit_and_when(api: Api) -> None:
    api.key("busy", rpm=2)
    assert (await api.chat("busy")).status_code == 200
    assert (await api.chat("busy")).status_code == 200
    refused = await api.chat("busy")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert "2 requests per minute" in error["message"] and "resets at" in error["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert len(api.upstream.requests) == 6  # two runs of three calls; the third never ran
    metrics = (await api.client.get("/metrics")).text
    assert 'evofuse_limit_refusals_total{limit="rate_limit_exceeded"} 1.0' in metrics


async def test_daily_budget_is_a_429_and_spend_is_the_real_cost(api: Api) -> None:
    api.key("thrifty", daily_budget_usd=0.0001)
    first = await api.chat("thrifty")
    assert first.status_code == 200
    cost = first.json()["evofuse"]["cost_usd"]
    assert cost > 0.0001  # one request may overshoot; the next one may not run
    refused = await api.chat("thrifty")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "daily_budget_exceeded" and error["type"] == "budget"
    assert "midnight" in error["message"] and "$0.0001" in error["message"]
    row = find_key(api.services.store, api.keys["thrifty"])
    assert row is not None
    assert row.spent_usd == pytest.approx(cost) and row.reserved_usd == pytest.approx(0)


async def test_concurrent_requests_reserve_their_worst_case_first(api: Api) -> None:
    estimate = api.services.engine.estimate(
        [{"role": "user", "content": "What is 2 + 2?"}], FusionOptions(profile="p")
    ).total_usd
    budget = estimate * 2.5
    api.key("edge", daily_budget_usd=budget)
    responses = await asyncio.gather(*(api.chat("edge") for _ in range(8)))
    statuses = sorted(r.status_code for r in responses)
    # Without reservations all eight would start before any had spent a cent.
    assert statuses == [200] * math.ceil(budget / estimate) + [429] * (
        8 - math.ceil(budget / estimate)
    )
    row = find_key(api.services.store, api.keys["edge"])
    assert row is not None and row.reserved_usd == pytest.approx(0, abs=1e-12)
    assert row.spent_usd <= budget + estimate

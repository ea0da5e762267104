"""The evolution lease: one holder at a time on SQLite and PostgreSQL, expiry, renewal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from evofuse.errors import LeaseHeldError
from evofuse.store import Store
from evofuse.store.evolution import acquire_lease, release_lease, renew_lease
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)

TTL = timedelta(minutes=5)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:  # noqa: F811
    store = Store(database_url)
    yield store
    store.close()


def test_a_second_holder_is_refused_and_told_who_holds_it(store: Store) -> None:
    lease = acquire_lease(store, "host-a:1", TTL)
    renew_lease(store, lease, TTL, cycle_id=7)

    with pytest.raises(LeaseHeldError) as refused:
        acquire_lease(store, "host-b:2", TTL)

    assert (refused.value.holder, refused.value.cycle_id) == ("host-a:1", 7)
    assert refused.value.http_status == 409
    assert "held by host-a:1" in refused.value.message
    release_lease(store, lease)
    assert acquire_lease(store, "host-b:2", TTL).holder == "host-b:2"


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew(store: Store) -> None:
    dead = acquire_lease(store, "dead:1", timedelta(seconds=-1))  # already expired
    taken = acquire_lease(store, "alive:2", TTL)
    assert taken.holder == "alive:2"
    assert renew_lease(store, dead, TTL) is False
    assert renew_lease(store, taken, TTL) is True


def test_many_simultaneous_callers_get_exactly_one_lease(store: Store) -> None:
    barrier = threading.Barrier(8)
    won: list[str] = []
    refused: list[str] = []

    def contend(name: str) -> None:
        barrier.wait()
        try:
            won.append(acquire_lease(store, name, TTL).holder)
        except LeaseHeldError as exc:
            refused.append(exc.holder)

    threads = [threading.Thread(target=contend, args=(f"worker-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert len(won) == 1
    assert refused == [won[0]] * 7

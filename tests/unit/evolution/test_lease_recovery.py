"""A crashed evolution process on this host does not block evolution for the lease's TTL.

The holder name is `host:pid:tag`. On the same host the pid is checked, so a dead holder is
replaced at once; a holder on another host keeps the lease until it expires.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest

from evofuse.errors import LeaseHeldError
from evofuse.store import Store
from evofuse.store.evolution import acquire_lease, renew_lease
from evofuse.store.processes import local_owner_alive
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)

TTL = timedelta(minutes=15)
HOST = socket.gethostname()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:  # noqa: F811
    store = Store(database_url)
    yield store
    store.close()


def dead_pid() -> int:
    """The pid of a process that really ran on this host and has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(store: Store) -> None:
    crashed = acquire_lease(store, f"{HOST}:{dead_pid()}:abc123", TTL)
    taken = acquire_lease(store, f"{HOST}:{os.getpid()}:def456", TTL)
    assert taken.holder.endswith(":def456")
    assert renew_lease(store, crashed, TTL) is False  # the dead holder's claim is gone


def test_a_live_holder_on_this_host_keeps_the_lease(store: Store) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        acquire_lease(store, f"{HOST}:{sleeper.pid}:abc123", TTL)
        with pytest.raises(LeaseHeldError) as refused:
            acquire_lease(store, f"{HOST}:{os.getpid()}:def456", TTL)
        assert refused.value.holder == f"{HOST}:{sleeper.pid}:abc123"
        assert "another host" in refused.value.hint
    finally:
        sleeper.kill()
        sleeper.wait()
    # Once it has died, the next caller takes over without waiting for the TTL.
    assert acquire_lease(store, f"{HOST}:{os.getpid()}:def456", TTL).holder.endswith(":def456")


def test_a_holder_on_another_host_keeps_the_lease_until_the_ttl(store: Store) -> None:
    # Its pid is dead here, but it names another host: nobody here can tell, the TTL decides.
    elsewhere = f"not-{HOST}:{dead_pid()}:abc123"
    acquire_lease(store, elsewhere, TTL)
    with pytest.raises(LeaseHeldError):
        acquire_lease(store, f"{HOST}:{os.getpid()}:def456", TTL)
    acquire_lease(store, f"not-{HOST}:1:expired", timedelta(seconds=-1), name="other")
    assert acquire_lease(store, f"{HOST}:{os.getpid()}:x", TTL, name="other").holder.endswith(":x")


def test_who_can_be_asked_whether_a_holder_lives() -> None:
    assert local_owner_alive(f"{HOST}:{os.getpid()}") is True
    assert local_owner_alive(f"{HOST}:{os.getpid()}:tag") is True
    assert local_owner_alive(f"{HOST}:{dead_pid()}:tag") is False
    assert local_owner_alive(f"not-{HOST}:{os.getpid()}:tag") is None
    assert local_owner_alive("") is None and local_owner_alive(f"{HOST}:bench") is None

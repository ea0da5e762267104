"""Database URLs for tests: a SQLite file, and a fresh PostgreSQL database on 127.0.0.1:5432.

Under CI (`CI=true`) a missing PostgreSQL server is a failure; elsewhere those tests skip with
the reason, so `make test` passes on a bare machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

from evofuse.testing.postgres import throwaway_database

PG_ADMIN_URL = os.environ.get(
    "EVOFUSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI: {reason}")
    pytest.skip(f"PostgreSQL not available at {PG_ADMIN_URL}: {reason}")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create a throwaway database and yield its SQLAlchemy URL; drop it afterwards."""
    with throwaway_database(PG_ADMIN_URL, prefix="evofuse_test", unavailable=_unavailable) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Each test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/evofuse.db"
        return
    with fresh_postgres_database() as url:
        yield url

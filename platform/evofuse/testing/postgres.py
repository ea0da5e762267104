"""A throwaway PostgreSQL database for tests and benchmarks: created, yielded, dropped."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn


@contextmanager
def throwaway_database(
    admin_url: str, *, prefix: str, unavailable: Callable[[str], NoReturn]
) -> Iterator[str]:
    """Create a uniquely named database on the server at `admin_url` and yield its SQLAlchemy
    URL; drop it (with its connections) when the block ends. Without a server, or without the
    right to create a database, call `unavailable(reason)` (it skips, fails or exits)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any connection failure means "no server here"
        admin.dispose()
        unavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

"""The SQL engine and sessions. Every other module gets its sessions from here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from evofuse.errors import ConfigError

_HINT = (
    "Use sqlite:///path/to/evofuse.db (the default) or "
    "postgresql+psycopg://user:password@host:5432/dbname in storage.database_url."
)


def make_engine(database_url: str) -> Engine:
    """An engine for `storage.database_url`: SQLite (parent folder created) or PostgreSQL."""
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise ConfigError(
            f"storage.database_url {database_url!r} is not a URL.", hint=_HINT
        ) from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(database_url, url.database)
    if backend == "postgresql":
        if (
            url.drivername == "postgresql"
        ):  # plain postgresql:// means psycopg2, which we don't ship
            url = url.set(drivername="postgresql+psycopg")
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    raise ConfigError(
        f"storage.database_url uses {backend!r}, which EvoFuse does not support.", hint=_HINT
    )


def _sqlite_engine(database_url: str, database: str | None) -> Engine:
    in_memory = database in (None, "", ":memory:")
    if not in_memory and database is not None and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": 30},
        # SQL errors and echo name the statement, never its values: those are prompts and
        # answers, which must not reach the server's log.
        "hide_parameters": True,
    }
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, or every session sees an empty db
    engine = create_engine(database_url, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")  # SQLite ignores foreign keys unless asked
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
        cursor.close()

    return engine


class Store:
    """The database of one deployment: an engine, migrated on open, and its sessions."""

    def __init__(self, database_url: str | Engine, *, migrate: bool = True) -> None:
        self.engine = make_engine(database_url) if isinstance(database_url, str) else database_url
        if migrate:
            from evofuse.store.migrate import migrate as run_migrations

            run_migrations(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A Core connection in one transaction, committed when the block ends and rolled back
        if it raises: for the run recorder's hot path, where the ORM's unit of work costs more
        CPU than the SQL it sends (see `store/rows.py`)."""
        with self.engine.begin() as connection:
            yield connection

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

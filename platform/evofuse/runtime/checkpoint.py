"""LangGraph checkpointers from `storage.database_url`: SQLite by default, Postgres when asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.engine import make_url


def checkpoint_target(database_url: str) -> tuple[str, str]:
    """(backend, target): the SQLite file beside the EvoFuse database, or a psycopg conninfo."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:"):
            return "sqlite", ":memory:"
        path = Path(database).expanduser()
        return "sqlite", str(path.with_name(path.stem + "-checkpoints.sqlite"))
    if backend == "postgresql":
        # LangGraph's saver takes a libpq conninfo, without SQLAlchemy's "+driver" suffix.
        return "postgres", url.set(drivername="postgresql").render_as_string(hide_password=False)
    raise ValueError(f"no LangGraph checkpointer for {backend!r} databases")


@asynccontextmanager
async def open_checkpointer(database_url: str) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """An async checkpointer, set up and closed with the block."""
    backend, target = checkpoint_target(database_url)
    if backend == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        async with AsyncSqliteSaver.from_conn_string(target) as saver:
            await saver.setup()
            yield saver
    else:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(target) as saver:
            await saver.setup()
            yield saver

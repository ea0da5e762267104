"""Deleting LangGraph checkpoints (whole conversations) of runs that are forgotten or expired.

`evofuse run` keeps each thread's messages in LangGraph's checkpointer (a SQLite file beside
the database, or PostgreSQL tables); the API runs without checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evofuse.runtime.checkpoint import checkpoint_target


def delete_threads(database_url: str, thread_ids: Sequence[str]) -> int:
    """Delete every checkpoint of these threads; returns how many threads were looked at."""
    if not thread_ids:
        return 0
    backend, target = checkpoint_target(database_url)
    if backend == "sqlite":
        if target == ":memory:" or not Path(target).is_file():
            return 0  # no checkpoint was ever written
        from langgraph.checkpoint.sqlite import SqliteSaver

        with SqliteSaver.from_conn_string(target) as sqlite_saver:
            sqlite_saver.setup()
            for thread_id in thread_ids:
                sqlite_saver.delete_thread(thread_id)
        return len(thread_ids)
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(target) as pg_saver:
        pg_saver.setup()
        for thread_id in thread_ids:
            pg_saver.delete_thread(thread_id)
    return len(thread_ids)

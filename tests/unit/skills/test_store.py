"""The store: engines for SQLite and PostgreSQL, and migrations that match the SQLModel tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import evofuse.store.tables  # noqa: F401  (every table on the metadata)
from evofuse.errors import ConfigError
from evofuse.skills import Bundle, BundleFile, Library
from evofuse.store import OutcomeSource, Store, make_engine, migrate, record_outcome
from evofuse.store.migrate import current_revision
from tests.unit.skills.conftest import skill_md


def test_migrations_create_exactly_the_modelled_schema(database_url: str) -> None:
    store = Store(database_url)
    try:
        with store.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        assert diff == []
        tables = set(inspect(store.engine).get_table_names())
        assert {"skills", "skill_versions", "skill_files", "outcomes", "alembic_version"} <= tables
        head = current_revision(store.engine)
        migrate(store.engine)  # idempotent: a second start changes nothing
        assert current_revision(store.engine) == head
    finally:
        store.close()


def test_sqlite_parent_folder_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/deep/er/evofuse.db"
    store = Store(url)
    store.close()
    assert (tmp_path / "deep" / "er" / "evofuse.db").is_file()


def test_in_memory_sqlite_keeps_its_tables_across_sessions() -> None:
    store = Store("sqlite://")
    try:
        assert "skills" in inspect(store.engine).get_table_names()
    finally:
        store.close()


def test_plain_postgresql_url_uses_psycopg() -> None:
    engine = make_engine("postgresql://user@127.0.0.1:1/db")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url"])
def test_unsupported_database_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_engine(url)
    assert caught.value.hint is not None and "sqlite:///" in caught.value.hint


def test_outcome_scores_outside_0_1_are_refused(library: Library) -> None:
    version = library.publish(Bundle.of([BundleFile("SKILL.md", skill_md("s", "d").encode())]))
    common = {
        "run_id": "r1",
        "skill_version_id": version.version.id,
        "skill_name": "s",
        "version": 1,
        "tenant": "t",
        "user_hash": "u",
        "source": OutcomeSource.JUDGE,
    }
    with pytest.raises(ValueError, match=r"score must be in \[0, 1\]"):
        with library.store.session() as session:
            record_outcome(session, score=1.5, **common)  # type: ignore[arg-type]
    # The database enforces it too, for writers that bypass record_outcome.
    from evofuse.store import OutcomeRow

    with pytest.raises(IntegrityError):
        with library.store.session() as session:
            session.add(OutcomeRow(score=-0.1, **{**common, "source": "judge"}))  # type: ignore[arg-type]


def test_concurrent_first_searches_open_the_index_once(library: Library) -> None:
    """The API's warm-up and a first request may both open the lazy index: one Chroma client."""
    import threading
    import time

    opened: list[int] = []
    real = library.index

    def slow_factory() -> object:
        opened.append(threading.get_ident())
        time.sleep(0.2)  # what opening Chroma and the embedding model takes, in small
        return real

    lazy = Library(library.store, slow_factory, sync=False)  # type: ignore[arg-type]
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(lazy.index)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(opened) == 1 and seen == [real] * 4

"""Alembic migrations, run programmatically (`evofuse.store.migrate(url)`) on start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from evofuse.store.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant works: it only has to be the same in every process that migrates this database.
_PG_LOCK_KEY = 0x65766F66  # "evof"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(database: str | Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`; safe to call from several processes at once."""
    engine = make_engine(database) if isinstance(database, str) else database
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two API replicas starting together must not both create the same tables.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    if isinstance(database, str):
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

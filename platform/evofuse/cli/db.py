"""`evofuse db upgrade|current`: the database schema (alembic migrations) of `storage.database_url`.

Every process migrates on start anyway (safely, several at once); `db upgrade` does it as a
separate step, as the `migrate` service of docker-compose.yml does before the replicas start.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from evofuse.cli.options import ConfigOption, load

app = typer.Typer(name="db", help="The database schema: apply migrations, show the revision.")


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("upgrade")
def upgrade(
    revision: Annotated[
        str, typer.Option("--revision", help="Target revision (default: the newest).")
    ] = "head",
    config: ConfigOption = None,
) -> None:
    """Apply the migrations up to REVISION; safe to run while replicas are starting."""
    from evofuse.store.db import make_engine
    from evofuse.store.migrate import current_revision, migrate

    url = load(config).storage.database_url
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        migrate(engine, revision)
        after = current_revision(engine)
    finally:
        engine.dispose()
    err = Console(stderr=True, highlight=False)
    if before == after:
        err.print(f"{_shown(url)}: already at revision {after}")
    else:
        err.print(f"{_shown(url)}: migrated {before or '(empty)'} → {after}")


@app.command("current")
def current(config: ConfigOption = None) -> None:
    """Print the schema revision of the database (nothing when it was never migrated)."""
    from evofuse.store.db import make_engine
    from evofuse.store.migrate import current_revision

    engine = make_engine(load(config).storage.database_url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(revision or "")

"""`evofuse users forget`, `evofuse audit list` and `evofuse retention run`.

Thin: the work happens in `evofuse.governance`. Every action here is recorded in the audit log
with the OS user and host that ran it.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evofuse.cli.options import ConfigOption, JsonOption, load

users_app = typer.Typer(name="users", help="End users: forget one (delete their data).")
audit_app = typer.Typer(name="audit", help="The audit log of admin actions.")
retention_app = typer.Typer(
    name="retention", help="Apply storage.retention_days to old run text now."
)


def _emit(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")


@users_app.command("forget")
def forget(
    user_id: Annotated[
        str, typer.Argument(help="The end user's id, as clients send it in `user`.")
    ],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="The user's tenant.")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Delete a user's runs, feedback and outcomes, and re-check what was learned from them.

    Skill versions that their runs backed are re-counted: one left with fewer than
    evolution.min_distinct_users supporters is retired, or flagged for review in the audit log
    if it has served longer than privacy.forget_review_after_days.
    """
    from evofuse.governance.forget import Forgetter
    from evofuse.services import Services
    from evofuse.store.audit import cli_actor
    from evofuse.textcheck import check_text

    check_text(user_id, "USER_ID")
    services = Services.from_settings(load(config))
    try:
        user_hash = services.hasher(tenant, user_id)
        assert user_hash is not None, "typer refuses an empty argument"
        forgetter = Forgetter(services.settings, services.store, services.library)
        report = forgetter.forget(tenant=tenant, user_hash=user_hash, actor=cli_actor())
    finally:
        services.close()
    if as_json:
        _emit({"summary": report.summary(), **report.model_dump(mode="json")})
        return
    console = Console(highlight=False)
    console.print(f"Forgot a user of tenant [bold]{escape(tenant)}[/]: {report.summary()}.")
    if report.versions:
        table = Table("skill", "version", "supporters left", "decision", "detail", box=None)
        for v in report.versions:
            table.add_row(
                escape(v.skill),
                f"v{v.version}",
                f"{v.remaining_supporters}/{v.needed}",
                v.decision.replace("_", " "),
                escape(v.detail),
            )
        console.print(table)


@audit_app.command("list")
def audit_list(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant.")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action, e.g. user.forget.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Admin actions, newest first: who, when, what, for which tenant."""
    from evofuse.store import Store, audit

    store = Store(load(config).storage.database_url)
    try:
        documents = [
            audit.document(r)
            for r in audit.entries(store, tenant=tenant, action=action, limit=limit)
        ]
    finally:
        store.close()
    if as_json:
        _emit(documents)
        return
    table = Table("id", "at", "actor", "tenant", "action", "target", box=None)
    for d in documents:
        table.add_row(
            str(d["id"]),
            d["at"][:19],
            escape(d["actor"]),
            escape(d["tenant"]),
            d["action"],
            escape(d["target"]),
        )
    Console(highlight=False).print(table if documents else "The audit log is empty.")


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the runs it would touch; change nothing.")
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Delete (or scrub) the text of runs older than storage.retention_days, once."""
    from evofuse.errors import UserError
    from evofuse.governance.retention import apply_retention
    from evofuse.store import Store
    from evofuse.store.audit import cli_actor

    settings = load(config)
    if settings.storage.retention_days is None:
        raise UserError(
            "storage.retention_days is not set: every run is kept.",
            hint="Set storage.retention_days (and optionally retention_mode: delete | scrub) "
            "in the configuration.",
        )
    store = Store(settings.storage.database_url)
    try:
        report = apply_retention(settings, store, actor=cli_actor(), dry_run=dry_run)
    finally:
        store.close()
    assert report is not None
    if as_json:
        _emit({"summary": report.summary(), **report.model_dump(mode="json")})
        return
    Console(highlight=False).print(report.summary())

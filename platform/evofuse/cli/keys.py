"""`evofuse keys create|list|revoke`: API keys of tenants, with their limits.

A new key is printed once, alone on stdout (so `KEY=$(evofuse keys create --tenant t)` works);
everything else goes to stderr. Only its SHA-256 is stored.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from evofuse.cli.options import ConfigOption, JsonOption, load

if TYPE_CHECKING:
    from evofuse.store import Store
    from evofuse.store.keys import ApiKeyRow

app = typer.Typer(name="keys", help="API keys: one per client, each tied to a tenant.")


def _store(config: Path | None) -> Store:
    from evofuse.store import Store

    return Store(load(config).storage.database_url)


def _document(row: ApiKeyRow) -> dict[str, Any]:
    today = int(time.time() // 86_400)
    current = row.budget_day == today
    return {
        "id": row.id,
        "tenant": row.tenant,
        "name": row.name,
        "hint": row.hint + "…",
        "rpm": row.rpm,
        "daily_budget_usd": row.daily_budget_usd,
        "spent_today_usd": round(row.spent_usd, 6) if current else 0.0,
        "admin": row.admin or row.operator,
        "operator": row.operator,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def _emit(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")


@app.command("create")
def create(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="The tenant the key acts for.")],
    name: Annotated[
        str | None, typer.Option("--name", help="A label, e.g. the client app.")
    ] = None,
    rpm: Annotated[
        int | None, typer.Option("--rpm", min=1, help="Requests per minute (default: no limit).")
    ] = None,
    daily_budget_usd: Annotated[
        float | None,
        typer.Option("--daily-budget-usd", help="USD per UTC day (default: no limit)."),
    ] = None,
    admin: Annotated[
        bool,
        typer.Option(
            "--admin",
            help="Acts for its own tenant: forgets its users, reads its audit entries, rolls "
            "back its skills.",
        ),
    ] = False,
    operator: Annotated[
        bool,
        typer.Option(
            "--operator",
            help="An admin of every tenant: also runs evolution and rolls back global skills "
            "(for the people who run the platform).",
        ),
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Create a key for a tenant and print it once; it cannot be shown again."""
    from evofuse.store import audit
    from evofuse.store.keys import create_key

    store = _store(config)
    try:
        new = create_key(
            store,
            tenant=tenant,
            name=name,
            rpm=rpm,
            daily_budget_usd=daily_budget_usd,
            admin=admin,
            operator=operator,
        )
        audit.record(
            store,
            actor=audit.cli_actor(),
            action=audit.AuditAction.KEY_CREATE,
            tenant=new.row.tenant,
            target=new.row.id,
            detail={
                "rpm": rpm,
                "daily_budget_usd": daily_budget_usd,
                "admin": admin or operator,
                "operator": operator,
            },
        )
    finally:
        store.close()
    if as_json:
        _emit({**_document(new.row), "key": new.secret})
        return
    err = Console(stderr=True, highlight=False)
    limits = ", ".join(
        part
        for part in (
            f"{rpm} requests/min" if rpm else "",
            f"${daily_budget_usd:g}/day" if daily_budget_usd else "",
        )
        if part
    )
    err.print(
        f"[green]Created[/] {new.row.id} for tenant [bold]{new.row.tenant}[/]"
        f" ({limits or 'no limits'}). Store the key now: it is shown only once."
    )
    sys.stdout.write(new.secret + "\n")


@app.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List keys (never the secrets) with their limits and today's spend."""
    from evofuse.store.keys import list_keys

    store = _store(config)
    try:
        documents = [_document(row) for row in list_keys(store, tenant=tenant)]
    finally:
        store.close()
    if as_json:
        _emit(documents)
        return
    table = Table("id", "tenant", "name", "key", "rpm", "budget/day", "spent today", "state")
    for d in documents:
        table.add_row(
            d["id"],
            d["tenant"],
            d["name"] or "",
            d["hint"],
            str(d["rpm"] or "-"),
            f"${d['daily_budget_usd']:g}" if d["daily_budget_usd"] else "-",
            f"${d['spent_today_usd']:.4f}",
            _state(d),
        )
    Console(highlight=False).print(table)


def _state(document: dict[str, Any]) -> str:
    if document["revoked_at"]:
        return "revoked"
    return "operator" if document["operator"] else "admin" if document["admin"] else "active"


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_…), from `keys list`.")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Revoke a key; requests with it are refused from now on."""
    from evofuse.store import audit
    from evofuse.store.keys import revoke_key

    store = _store(config)
    try:
        row = revoke_key(store, key_id)
        audit.record(
            store,
            actor=audit.cli_actor(),
            action=audit.AuditAction.KEY_REVOKE,
            tenant=row.tenant,
            target=row.id,
        )
    finally:
        store.close()
    if as_json:
        _emit(_document(row))
        return
    Console(stderr=True, highlight=False).print(f"Revoked {row.id} (tenant {row.tenant}).")

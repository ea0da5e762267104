"""The audit log: key creation and revocation (CLI) and rollbacks (API) are recorded with who did
them; only admin keys may read it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evofuse.skills import Bundle, BundleFile, Scope
from evofuse.store import audit
from tests.unit.api.conftest import Api
from tests.unit.api.test_cli import cli, write_config


def skill(body: str) -> Bundle:
    text = f"---\nname: sql-review\ndescription: Review SQL queries.\n---\n{body}\n"
    return Bundle.of([BundleFile("SKILL.md", text.encode())])


def test_cli_key_changes_are_audited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    code, out, err = cli(capsys, "keys", "create", "--tenant", "acme", "--json", "--config", config)
    assert code == 0, err
    key_id = json.loads(out)["id"]
    assert cli(capsys, "keys", "revoke", key_id, "--config", config)[0] == 0
    code, out, err = cli(capsys, "audit", "list", "--json", "--config", config)
    assert code == 0, err
    entries = json.loads(out)
    assert [e["action"] for e in entries] == ["key.revoke", "key.create"]
    assert {e["target"] for e in entries} == {key_id}
    assert {e["tenant"] for e in entries} == {"acme"}
    assert all(e["actor"].startswith("cli:") for e in entries)
    code, out, _ = cli(
        capsys, "audit", "list", "--action", "key.create", "--json", "--config", config
    )
    assert [e["action"] for e in json.loads(out)] == ["key.create"]


async def test_api_rollbacks_are_audited_and_only_admins_read_the_log(api: Api) -> None:
    library = api.services.library
    library.publish(skill("One."), scope=Scope.GLOBAL)
    library.publish(skill("Two."), scope=Scope.GLOBAL)
    admin = api.key("ops", operator=True)
    response = await api.client.post(
        "/v1/skills/sql-review/rollback", json={"to": 1}, headers=api.auth("ops")
    )
    assert response.status_code == 200, response.text
    [entry] = audit.entries(api.services.store)
    assert (entry.action, entry.target, entry.tenant) == ("skill.rollback", "sql-review v1", "")
    assert entry.actor.startswith("key_") and admin not in json.dumps(audit.document(entry))
    listed = await api.client.get("/v1/audit", headers=api.auth("ops"))
    assert listed.status_code == 200 and listed.json()["data"][0]["action"] == "skill.rollback"
    refused = await api.client.get("/v1/audit", headers=api.auth("acme"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_required"


async def test_a_tenants_admin_reads_only_its_own_tenants_entries(api: Api) -> None:
    store = api.services.store
    audit.record(store, actor="key_x", action=audit.AuditAction.USER_FORGET, tenant="acme")
    audit.record(store, actor="key_y", action=audit.AuditAction.USER_FORGET, tenant="globex")
    api.key("acme", admin=True)
    mine = await api.client.get("/v1/audit", headers=api.auth("acme"))
    assert mine.status_code == 200, mine.text
    assert {e["tenant"] for e in mine.json()["data"]} == {"acme"}
    theirs = await api.client.get(
        "/v1/audit", params={"tenant": "globex"}, headers=api.auth("acme")
    )
    assert theirs.status_code == 403
    assert theirs.json()["error"]["code"] == "operator_required"
    api.key("ops", operator=True)
    everyone = await api.client.get("/v1/audit", headers=api.auth("ops"))
    assert {e["tenant"] for e in everyone.json()["data"]} >= {"acme", "globex"}

"""POST/GET /v1/evolution/runs: operator keys only, one cycle at a time, stored reports."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from evofuse.store.evolution import acquire_lease
from evofuse.store.keys import create_key
from tests.unit.api.conftest import Api


async def test_only_operator_keys_may_evolve(api: Api) -> None:
    # A tenant's admin too: a cycle changes every tenant's global skills.
    tenant_admin = create_key(api.services.store, tenant="acme", admin=True).secret
    for headers in (api.auth("acme"), {"Authorization": f"Bearer {tenant_admin}"}):
        for method, path in (("POST", "/v1/evolution/runs"), ("GET", "/v1/evolution/runs")):
            response = await api.client.request(method, path, headers=headers)
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "operator_required"


async def test_an_operator_triggers_a_cycle_and_reads_its_report(api: Api) -> None:
    operator = create_key(api.services.store, tenant="ops", operator=True).secret
    admin = {"Authorization": f"Bearer {operator}"}
    started = await api.client.post("/v1/evolution/runs", json={"dry_run": True}, headers=admin)
    assert started.status_code == 202, started.text
    cycle_id = started.json()["id"]
    assert started.json()["dry_run"] is True

    for _ in range(300):  # nothing recorded yet: the cycle has no evidence and ends quickly
        report = (await api.client.get(f"/v1/evolution/runs/{cycle_id}", headers=admin)).json()
        if report["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert report["status"] == "finished", report
    assert report["id"] == cycle_id and report["dry_run"] is True

    listed = await api.client.get("/v1/evolution/runs", headers=admin)
    assert [c["id"] for c in listed.json()["data"]] == [cycle_id]

    missing = await api.client.get("/v1/evolution/runs/9999", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "evolution_run_not_found"


async def test_a_second_cycle_is_refused_while_one_holds_the_lease(api: Api) -> None:
    operator = create_key(api.services.store, tenant="ops", operator=True).secret
    admin = {"Authorization": f"Bearer {operator}"}
    acquire_lease(api.services.store, "other-host:4242:abc", timedelta(minutes=5))
    refused = await api.client.post("/v1/evolution/runs", headers=admin)
    assert refused.status_code == 409, refused.text
    assert "other-host:4242:abc" in refused.json()["error"]["message"]

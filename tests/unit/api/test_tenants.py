"""Tenant isolation of runs, feedback and private skills; feedback becomes skill outcomes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from evofuse.api import create_app
from evofuse.services import Services
from evofuse.skills import Bundle, BundleFile, Context, Scope
from evofuse.store import OutcomeRow
from evofuse.store.keys import create_key, find_key
from evofuse.store.runs import RunRow
from evofuse.testing import UpstreamServer
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)
from tests.unit.api.conftest import Api, api_settings


def skill(name: str, description: str, body: str) -> Bundle:
    text = f"---\nname: {name}\ndescription: {description}\n---\n{body}\n"
    return Bundle.of([BundleFile("SKILL.md", text.encode())])


@pytest.fixture
async def tenants(
    upstream: UpstreamServer,
    tmp_path: Path,
    database_url: str,  # noqa: F811
) -> AsyncIterator[Api]:
    """Tenants acme and globex (plus acme's admin and an operator) on SQLite and PostgreSQL."""
    import httpx

    services = Services.from_settings(
        api_settings(upstream.base_url, tmp_path, database_url=database_url)
    )
    library = services.library
    review = "Review SQL queries for correctness and performance."
    library.publish(skill("sql-review", review, "Check joins."), scope=Scope.GLOBAL)
    library.publish(skill("sql-review", review, "Check joins and indexes."), scope=Scope.GLOBAL)
    library.publish(
        skill("acme-style", "Write in ACME's house style.", "Be brief."),
        scope=Scope.TENANT,
        context=Context("acme"),
    )
    app = create_app(services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://evofuse.test") as client:
        api = Api(client, services, upstream)
        api.key("acme")
        api.key("globex")
        api.key("ops", operator=True)
        api.keys["acme-admin"] = create_key(services.store, tenant="acme", admin=True).secret
        yield api
    services.close()


async def test_a_tenant_sees_only_its_own_runs(tenants: Api) -> None:
    run_id = (await tenants.chat("acme")).json()["evofuse"]["run_id"]
    mine = await tenants.client.get(f"/v1/runs/{run_id}", headers=tenants.auth("acme"))
    assert mine.status_code == 200 and mine.json()["status"] == "succeeded"
    assert mine.json()["steps"][0]["candidates"]

    theirs = await tenants.client.get(f"/v1/runs/{run_id}", headers=tenants.auth("globex"))
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "run_not_found"
    listed = await tenants.client.get("/v1/runs", headers=tenants.auth("globex"))
    assert listed.json()["data"] == []
    listed = await tenants.client.get("/v1/runs", headers=tenants.auth("acme"))
    assert [r["run_id"] for r in listed.json()["data"]] == [run_id]


async def test_only_the_owning_tenant_may_rate_a_run_and_ratings_replace(tenants: Api) -> None:
    run_id = (await tenants.chat("acme", user="ann")).json()["evofuse"]["run_id"]
    body = {"run_id": run_id, "score": 0.2, "comment": "meh"}
    stranger = await tenants.client.post("/v1/feedback", json=body, headers=tenants.auth("globex"))
    assert stranger.status_code == 404

    first = await tenants.client.post("/v1/feedback", json=body, headers=tenants.auth("acme"))
    assert first.status_code == 200, first.text
    again = await tenants.client.post(
        "/v1/feedback",
        json={**body, "score": 0.9, "comment": "better"},
        headers=tenants.auth("acme"),
    )
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["score"] == 0.9 and again.json()["comment"] == "better"
    other_user = await tenants.client.post(
        "/v1/feedback", json={**body, "user": "bob"}, headers=tenants.auth("acme")
    )
    assert other_user.json()["id"] != first.json()["id"]

    bad = await tenants.client.post(
        "/v1/feedback", json={**body, "score": 1.5}, headers=tenants.auth("acme")
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "score"
    unknown = await tenants.client.post(
        "/v1/feedback", json={**body, "run_id": "nope"}, headers=tenants.auth("acme")
    )
    assert unknown.status_code == 404


async def test_feedback_on_a_skill_run_is_an_outcome_of_that_version(tenants: Api) -> None:
    response = await tenants.chat("acme", user="ann", evofuse={"skill": "sql-review"})
    assert response.status_code == 200, response.text
    evofuse = response.json()["evofuse"]
    assert evofuse["skill"] == {"name": "sql-review", "version": 2}
    feedback = {"run_id": evofuse["run_id"], "score": 1.0}
    assert (
        await tenants.client.post("/v1/feedback", json=feedback, headers=tenants.auth("acme"))
    ).status_code == 200
    with tenants.services.store.session() as session:
        outcomes = session.exec(
            select(OutcomeRow).where(
                OutcomeRow.run_id == evofuse["run_id"], OutcomeRow.source == "feedback"
            )
        ).all()
    assert [(o.skill_name, o.version, o.score, o.tenant) for o in outcomes] == [
        ("sql-review", 2, 1.0, "acme")
    ]
    assert outcomes[0].user_hash == tenants.services.hasher("acme", "ann")


async def test_a_run_records_the_authenticated_key_and_credits_its_exact_version(
    tenants: Api,
) -> None:
    # A second acme key: the run must name the key that sent it, not just the tenant.
    tenants.key("acme")
    response = await tenants.chat("acme", user="ann", evofuse={"skill": "sql-review"})
    assert response.status_code == 200, response.text
    run_id = response.json()["evofuse"]["run_id"]
    key = find_key(tenants.services.store, tenants.keys["acme"])
    with tenants.services.store.session() as session:
        run = session.get(RunRow, run_id)
    assert key is not None and run is not None
    assert run.api_key_id == key.id
    versions = tenants.services.library.versions("sql-review")
    assert run.skill_version_id == versions[1].id  # v2, the active global version

    feedback = {"run_id": run_id, "score": 0.25}
    rated = await tenants.client.post("/v1/feedback", json=feedback, headers=tenants.auth("acme"))
    assert rated.status_code == 200, rated.text
    listed = await tenants.client.get(
        "/v1/skills/sql-review/versions", headers=tenants.auth("globex")
    )
    assert listed.status_code == 200, listed.text
    stats = [(v["version"], v["outcomes"], v["mean_score"]) for v in listed.json()]
    # v1 was never used; v2 has the judge's outcome and the rating (the judge scores in (0, 1]).
    assert stats[0] == (1, 0, None)
    assert stats[1][:2] == (2, 2) and 0.25 < stats[1][2] < 1.0


async def test_private_skills_stay_with_their_tenant(tenants: Api) -> None:
    acme = await tenants.client.get("/v1/skills", headers=tenants.auth("acme"))
    globex = await tenants.client.get("/v1/skills", headers=tenants.auth("globex"))
    assert {s["name"] for s in acme.json()} == {"sql-review", "acme-style"}
    assert {s["name"] for s in globex.json()} == {"sql-review"}

    shown = await tenants.client.get("/v1/skills/acme-style", headers=tenants.auth("acme"))
    assert shown.status_code == 200 and "Be brief." in shown.json()["skill_md"]
    hidden = await tenants.client.get("/v1/skills/acme-style", headers=tenants.auth("globex"))
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "skill_not_found"
    assert (
        await tenants.client.get("/v1/skills/acme-style/versions", headers=tenants.auth("globex"))
    ).status_code == 404
    forced = await tenants.chat("globex", evofuse={"skill": "acme-style"})
    assert forced.status_code == 404


async def test_rolling_back_a_global_skill_needs_an_operator_key(tenants: Api) -> None:
    versions = await tenants.client.get(
        "/v1/skills/sql-review/versions", headers=tenants.auth("acme")
    )
    assert [(v["version"], v["status"]) for v in versions.json()] == [
        (1, "retired"),
        (2, "active"),
    ]
    for who in ("acme", "acme-admin"):  # a tenant's admin acts for its tenant, not for all
        refused = await tenants.client.post(
            "/v1/skills/sql-review/rollback", json={}, headers=tenants.auth(who)
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "operator_required"
        assert "--operator" in refused.json()["error"]["message"]
    done = await tenants.client.post(
        "/v1/skills/sql-review/rollback", json={"to": 1}, headers=tenants.auth("ops")
    )
    assert done.status_code == 200, done.text
    assert done.json()["version"] == 1 and done.json()["status"] == "active"
    again = await tenants.client.post(
        "/v1/skills/sql-review/rollback", json={"to": 1}, headers=tenants.auth("ops")
    )
    assert again.status_code == 400  # already active: a user mistake, said plainly


async def test_rolling_back_a_tenant_skill_needs_that_tenants_admin(tenants: Api) -> None:
    library = tenants.services.library
    library.publish(
        skill("acme-style", "Write in ACME's house style.", "Be brief and warm."),
        scope=Scope.TENANT,
        context=Context("acme"),
    )
    refused = await tenants.client.post(
        "/v1/skills/acme-style/rollback", json={"to": 1}, headers=tenants.auth("acme")
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_required"
    stranger = await tenants.client.post(
        "/v1/skills/acme-style/rollback", json={"to": 1}, headers=tenants.auth("globex")
    )
    assert stranger.status_code == 404  # globex cannot even see it
    done = await tenants.client.post(
        "/v1/skills/acme-style/rollback", json={"to": 1}, headers=tenants.auth("acme-admin")
    )
    assert done.status_code == 200, done.text
    assert done.json()["version"] == 1 and done.json()["tenant"] == "acme"

"""Forgetting a user through DELETE /v1/users/{id}: nothing of them remains in any table, the
versions their runs backed are re-checked (retired, or flagged when long-serving), and the
audit log records the action without naming the user."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select

import evofuse.store.tables  # noqa: F401  (every table registered in SQLModel.metadata)
from evofuse.api import create_app
from evofuse.config.models import EvolutionSettings
from evofuse.services import Services
from evofuse.skills import Bundle, BundleFile, Context, Scope
from evofuse.store import Origin, SkillVersionRow, Status, utcnow
from evofuse.store.evolution import EvolutionRunRow
from evofuse.store.keys import create_key
from evofuse.store.runs import RunRow
from evofuse.store.support import SupportRow, record_support
from evofuse.testing import UpstreamServer
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)
from tests.unit.api.conftest import Api, api_settings

USERS = ("alice", "bob", "carol")


def skill(name: str, body: str) -> Bundle:
    text = f"---\nname: {name}\ndescription: Review {name} work for mistakes.\n---\n{body}\n"
    return Bundle.of([BundleFile("SKILL.md", text.encode())])


@pytest.fixture
async def world(
    upstream: UpstreamServer,
    tmp_path: Path,
    database_url: str,  # noqa: F811
) -> AsyncIterator[Api]:
    settings = api_settings(upstream.base_url, tmp_path, database_url=database_url)
    settings = settings.model_copy(update={"evolution": EvolutionSettings(min_distinct_users=3)})
    services = Services.from_settings(settings)
    library = services.library
    for name in ("sql-review", "api-review"):
        library.publish(skill(name, "Check the basics."), scope=Scope.GLOBAL)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://evofuse.test") as client:
        api = Api(client, services, upstream)
        api.key("acme")
        api.key("ops", operator=True)
        yield api
    services.close()


async def seed(api: Api) -> dict[str, list[str]]:
    """Runs, ratings and a private skill for each user; two evolved versions backed by all."""
    runs: dict[str, list[str]] = {}
    for user in USERS:
        for name in ("sql-review", "api-review"):
            response = await api.chat(
                user=user,
                messages=[{"role": "user", "content": f"{user}-private-task about {name}"}],
                evofuse={"skill": name},
            )
            assert response.status_code == 200, response.text
            runs.setdefault(user, []).append(response.json()["evofuse"]["run_id"])
        rated = await api.client.post(
            "/v1/feedback",
            json={"run_id": runs[user][0], "score": 0.2, "comment": f"{user}-comment"},
            headers=api.auth("acme"),
        )
        assert rated.status_code == 200, rated.text
    # Bob rates Alice's run too (it is the same tenant): that row is about Alice's run.
    await api.client.post(
        "/v1/feedback",
        json={"run_id": runs["alice"][1], "score": 1.0, "user": "bob"},
        headers=api.auth("acme"),
    )
    hasher, library = api.services.hasher, api.services.library
    alice = Context("acme", hasher("acme", "alice"))
    library.publish(skill("alice-notes", "Alice's own way."), scope=Scope.USER, context=alice)
    for index, name in enumerate(("sql-review", "api-review")):

        def support(session: Any, info: Any, index: int = index) -> None:
            backing = [(runs[u][index], hasher("acme", u) or "") for u in USERS]
            record_support(session, info.id, backing)

        library.publish(
            skill(name, "Check the basics, then the edge cases."),
            origin=Origin.EVOLUTION,
            parent_version=1,
            within=support,
        )
    # api-review v2 has served for 90 days: losing support flags it instead of retiring it.
    with api.services.store.session() as session:
        version = session.exec(
            select(SkillVersionRow).where(SkillVersionRow.version == 2).order_by(SkillVersionRow.id)
        ).all()[-1]
        version.created_at = utcnow() - timedelta(days=90)
        session.add(version)
        session.add(
            EvolutionRunRow(
                status="finished",
                report={
                    "evidence": [
                        {
                            "skill": "sql-review",
                            "items": [
                                {"run_id": r, "user": hasher("acme", u)[:10], "task": f"{u} t"}  # type: ignore[index]
                                for u in USERS
                                for r in runs[u]
                            ],
                        }
                    ],
                    "clusters": [
                        {"sample": ["alice-private-task about sql-review", "unrelated task"]}
                    ],
                },
            )
        )
    return runs


def everything(api: Api) -> str:
    """Every value of every row of every table, as one searchable text."""
    parts = []
    with api.services.store.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in session.execute(sa_select(table)).all():
                parts.append(json.dumps([str(v) for v in row], ensure_ascii=False))
    return "\n".join(parts)


async def test_forgetting_a_user_leaves_nothing_of_them_and_rechecks_what_they_backed(
    world: Api,
) -> None:
    runs = await seed(world)
    alice_hash = world.services.hasher("acme", "alice")
    assert alice_hash is not None
    before = everything(world)
    assert alice_hash in before and runs["alice"][0] in before and "alice-private" in before
    alice = Context("acme", alice_hash)
    library = world.services.library
    assert "alice-notes" in {r.name for r in library.search("Alice's own way", context=alice)}

    refused = await world.client.delete("/v1/users/alice", headers=world.auth("acme"))
    assert refused.status_code == 403
    response = await world.client.delete(
        "/v1/users/alice", params={"tenant": "acme"}, headers=world.auth("ops")
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["runs"] == 2 and report["private_skills"] == 1
    assert report["feedback"] == 2  # alice's rating, and bob's rating of alice's run
    decisions = {v["skill"]: v for v in report["versions"]}
    assert decisions["sql-review"]["decision"] == "retired"
    assert decisions["sql-review"]["remaining_supporters"] == 2
    assert decisions["api-review"]["decision"] == "flagged_for_review"

    after = everything(world)
    assert "alice-notes" not in {r.name for r in library.search("Alice's own way", context=alice)}
    for trace in (alice_hash, alice_hash[:10], "alice", *runs["alice"]):
        assert trace not in after, trace
    # Everyone else's data stays.
    for user in ("bob", "carol"):
        assert all(run_id in after for run_id in runs[user])
        assert f"{user}-comment" in after
    with world.services.store.session() as session:
        assert len(session.exec(select(RunRow)).all()) == 4
        assert len(session.exec(select(SupportRow)).all()) == 4
        statuses = {
            (row.skill_id, row.version): row.status
            for row in session.exec(select(SkillVersionRow)).all()
        }
    # sql-review v2 was retired and v1 serves again; api-review v2 keeps serving, flagged.
    assert sorted(statuses.values()).count(Status.ACTIVE.value) == 2
    assert Status.RETIRED.value in statuses.values()
    assert world.services.library.load("sql-review").info.version == 1
    assert world.services.library.load("api-review").info.version == 2

    audit = await world.client.get("/v1/audit", headers=world.auth("ops"))
    actions = [entry["action"] for entry in audit.json()["data"]]
    assert {"user.forget", "skill.retire", "skill.review"} <= set(actions)
    assert (await world.client.get("/v1/audit", headers=world.auth("acme"))).status_code == 403

    # Forgetting again finds nothing and changes nothing.
    again = await world.client.delete(
        "/v1/users/alice", params={"tenant": "acme"}, headers=world.auth("ops")
    )
    assert again.json()["runs"] == 0 and again.json()["versions"] == []


async def test_a_user_id_with_a_nul_byte_is_refused(world: Api) -> None:
    response = await world.client.delete("/v1/users/a%00b", headers=world.auth("ops"))
    assert response.status_code == 400 and response.json()["error"]["code"] == (
        "invalid_characters"
    )


def test_the_cli_forgets_a_user_by_the_id_clients_send(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evofuse.identity import UserHasher
    from evofuse.store import Store
    from tests.unit.api.test_cli import cli, write_config

    config = write_config(tmp_path)
    store = Store(f"sqlite:///{tmp_path}/e.db")
    hasher = UserHasher()  # the same server secret as the CLI's (set by the autouse fixture)
    with store.session() as session:
        for run_id, user in (("r-alice", "alice"), ("r-bob", "bob")):
            session.add(
                RunRow(id=run_id, graph="g", tenant="acme", user_hash=hasher("acme", user) or "")
            )
    code, out, err = cli(
        capsys, "users", "forget", "alice", "--tenant", "acme", "--json", "--config", str(config)
    )
    assert code == 0, err
    assert json.loads(out)["runs"] == 1
    with store.session() as session:
        assert [r.id for r in session.exec(select(RunRow)).all()] == ["r-bob"]
    store.close()
    code, out, err = cli(
        capsys, "users", "forget", "al\x00ice", "--tenant", "acme", "--config", str(config)
    )
    assert code == 2 and "USER_ID contains U+0000" in err


async def test_a_tenants_admin_forgets_its_own_users_only(world: Api) -> None:
    runs = await seed(world)
    world.keys["acme-admin"] = create_key(world.services.store, tenant="acme", admin=True).secret
    other = await world.client.delete(
        "/v1/users/alice", params={"tenant": "globex"}, headers=world.auth("acme-admin")
    )
    assert other.status_code == 403, other.text
    assert other.json()["error"]["code"] == "operator_required"
    assert all(run_id in everything(world) for run_id in runs["alice"])  # nothing was touched
    own = await world.client.delete("/v1/users/alice", headers=world.auth("acme-admin"))
    assert own.status_code == 200, own.text
    assert own.json()["runs"] == 2
    assert not any(run_id in everything(world) for run_id in runs["alice"])

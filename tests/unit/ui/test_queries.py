"""The dashboard's queries, on SQLite and PostgreSQL: aggregated per skill and per day in SQL,
always within one tenant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from evofuse.skills import Bundle, BundleFile, Library, MiniLMEmbedder, Origin, Status
from evofuse.skills.index import SkillIndex, chroma_client
from evofuse.skills.models import Context
from evofuse.store import OutcomeSource, Scope, SkillVersionRow, Store, record_outcome, utcnow
from evofuse.store.evolution import CanaryRow, canaries_of, open_canaries_by_skill
from evofuse.store.feedback import feedback_for_run, record_feedback
from evofuse.store.outcomes import daily_success, success_per_skill
from evofuse.store.run_queries import list_runs, runs_per_skill
from evofuse.store.runs import RunRow
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)

SKILL = "---\nname: {name}\ndescription: A skill for the dashboard's queries, {n}.\n---\nDo {n}.\n"
NOW = utcnow()


@pytest.fixture
def library(database_url: str, tmp_path: Path) -> Iterator[Library]:  # noqa: F811
    index = SkillIndex(chroma_client(str(tmp_path / "chroma")), MiniLMEmbedder(), "dashboard")
    library = Library(Store(database_url), index)
    yield library
    library.close()


@pytest.fixture
def store(library: Library) -> Store:
    return library.store


def publish(library: Library, name: str, n: int, **options: object) -> int:
    bundle = Bundle.of([BundleFile("SKILL.md", SKILL.format(name=name, n=n).encode())])
    return library.publish(bundle, origin=Origin.IMPORT, **options).version.id  # type: ignore[arg-type]


def run(store: Store, run_id: str, tenant: str, version_id: int, version: int, *, days: float,
        user: str = "u1", status: str = "succeeded", score: float = 0.5) -> None:  # fmt: skip
    created = NOW - timedelta(days=days)
    with store.session() as session:
        session.add(
            RunRow(
                id=run_id,
                graph="assistant",
                tenant=tenant,
                user_hash=user,
                skill_name="alpha",
                skill_version=version,
                skill_version_id=version_id,
                status=status,
                created_at=created,
            )
        )
        outcome = record_outcome(
            session,
            run_id=run_id,
            skill_version_id=version_id,
            skill_name="alpha",
            version=version,
            tenant=tenant,
            user_hash=user,
            score=score,
            source=OutcomeSource.JUDGE,
        )
        outcome.created_at = created


@pytest.fixture
def seeded(store: Store, library: Library) -> dict[str, int]:
    v1 = publish(library, "alpha", 1)
    v2 = publish(library, "alpha", 2)
    publish(library, "private", 3, scope=Scope.TENANT, context=Context("acme"))
    run(store, "r1", "acme", v1, 1, days=10, score=0.2)  # older than 7 days
    run(store, "r2", "acme", v1, 1, days=3, score=0.4)
    run(store, "r3", "acme", v2, 2, days=1, score=0.8, user="abcdef")
    run(store, "r4", "acme", v2, 2, days=1.02, score=0.6, status="failed")
    run(store, "r5", "globex", v2, 2, days=1, score=0.0)
    return {"v1": v1, "v2": v2}


def test_runs_and_success_per_skill_count_one_tenant_in_the_window(
    store: Store, seeded: dict[str, int]
) -> None:
    since = NOW - timedelta(days=7)
    key = ("alpha", "global", "")
    assert runs_per_skill(store, tenant="acme", since=since) == {key: 3}
    assert runs_per_skill(store, tenant="globex", since=since) == {key: 1}
    count, mean = success_per_skill(store, tenant="acme", since=since)[key]
    assert count == 3 and mean == pytest.approx((0.4 + 0.8 + 0.6) / 3)
    assert success_per_skill(store, tenant="nobody", since=since) == {}


def test_daily_success_is_per_version_and_day(store: Store, seeded: dict[str, int]) -> None:
    rows = daily_success(store, [seeded["v1"], seeded["v2"]], tenant="acme")
    days = [(version, day) for version, day, _, _ in rows]
    assert [version for version, _ in days] == [seeded["v1"], seeded["v1"], seeded["v2"]]
    assert [day for _, day in days] == sorted(day for _, day in days)
    assert all(len(day) == 10 and day[4] == "-" for _, day in days)  # YYYY-MM-DD on both
    merged = [r for r in rows if r[0] == seeded["v2"]]
    if len(merged) == 1:  # r3 and r4 fell on the same UTC day
        assert merged[0][2:] == (2, pytest.approx(0.7))
    assert daily_success(store, [], tenant="acme") == []


def test_run_filters(store: Store, seeded: dict[str, int]) -> None:
    def ids(**filters: object) -> list[str]:
        return [r["run_id"] for r in list_runs(store, tenant="acme", limit=50, **filters)]  # type: ignore[arg-type]

    assert ids() == ["r3", "r4", "r2", "r1"]  # newest first, acme's only
    assert ids(status="failed") == ["r4"]
    assert ids(skill="alpha", user_prefix="abc") == ["r3"]
    assert ids(user_prefix="%") == []  # a LIKE wildcard is a character here
    assert ids(since=NOW - timedelta(days=5), until=NOW - timedelta(days=1.01)) == ["r4", "r2"]
    assert ids(offset=3) == ["r1"]


def test_feedback_for_run_stays_in_its_tenant(store: Store, seeded: dict[str, int]) -> None:
    record_feedback(store, run_id="r3", score=0.9, comment="good", tenant="acme")
    assert [f.comment for f in feedback_for_run(store, "r3", tenant="acme")] == ["good"]
    assert feedback_for_run(store, "r3", tenant="globex") == []


def test_canaries_by_version_and_open_ones_by_skill(store: Store, seeded: dict[str, int]) -> None:
    with store.session() as session:
        row = session.exec(select(SkillVersionRow).where(SkillVersionRow.id == seeded["v2"])).one()
        row.status = Status.CANDIDATE.value
        session.add(row)
        session.add(
            CanaryRow(
                skill_id=row.skill_id,
                skill_name="alpha",
                version_id=seeded["v2"],
                version=2,
                percent=10.0,
                cycle_id=7,
            )
        )
    assert [c.cycle_id for c in canaries_of(store, [seeded["v1"], seeded["v2"]])] == [7]
    assert canaries_of(store, []) == []
    assert open_canaries_by_skill(store)[("alpha", "global", "")].version == 2

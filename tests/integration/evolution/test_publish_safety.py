"""One cycle at a time, crash-consistent publishing, canary rollback, byte-identical rollback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import select
from typer.testing import CliRunner

from evofuse.cli.app import app
from evofuse.errors import LeaseHeldError
from evofuse.evolution.cycle import EvolutionCycle
from evofuse.fusion import FusionEngine
from evofuse.skills import Library, LibrarySkillChooser, MiniLMEmbedder
from evofuse.skills.index import COLLECTION, SkillIndex, chroma_client
from evofuse.store import SkillVersionRow, Store
from evofuse.store.evolution import CanaryRow
from tests.integration.evolution.conftest import SKILL, Env, poor_outcomes

TASK = "Review this SQL query and migration for slow plans and locking risks"


def _ready(env: Env) -> None:
    env.publish()
    poor_outcomes(env, ["alice", "bob", "carol"])
    env.held_out_tasks(4)


def _cycle(env: Env) -> EvolutionCycle:
    return EvolutionCycle(
        env.settings, store=env.store, library=env.library, engine=FusionEngine(env.settings)
    )


def test_a_second_cycle_is_refused_while_one_runs_and_told_who_holds_the_lease(env: Env) -> None:
    _ready(env)
    first, second = _cycle(env), _cycle(env)
    first.open()

    with pytest.raises(LeaseHeldError) as refused:
        second.open()

    assert refused.value.holder == first.holder
    assert refused.value.cycle_id == first.id
    assert first.holder in refused.value.message and "already running" in refused.value.message
    report = asyncio.run(first.run())
    assert report.status == "finished"
    assert asyncio.run(_cycle(env).execute()).status == "finished"  # the lease was released


def test_two_concurrent_cycles_in_one_event_loop_run_one_cycle(env: Env) -> None:
    _ready(env)

    async def both() -> list[Any]:
        return await asyncio.gather(
            _cycle(env).execute(), _cycle(env).execute(), return_exceptions=True
        )

    results = asyncio.run(both())

    assert sorted(type(r).__name__ for r in results) == ["CycleReport", "LeaseHeldError"]
    with env.store.session() as session:
        assert len(session.exec(select(CanaryRow)).all()) == 1


def test_a_crash_inside_publish_leaves_no_half_published_version(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ready(env)

    def crash(**_kwargs: Any) -> None:
        raise RuntimeError("simulated crash while registering the canary")

    monkeypatch.setattr("evofuse.evolution.canary.CanaryRow", crash)

    report = env.cycle()

    assert report.status == "failed"
    assert "simulated crash" in (report.error or "")
    with env.store.session() as session:
        versions = session.exec(select(SkillVersionRow)).all()
        assert [(v.version, v.status) for v in versions] == [(1, "active")]
        assert session.exec(select(CanaryRow)).all() == []
    assert env.library.index.snapshot() == {versions[0].skill_id: (1, versions[0].content_hash)}


def test_a_crash_between_sql_and_chroma_is_repaired_when_the_library_reopens(
    make_env: Callable[..., Env], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(collection="crash-test", canary_percent=0)  # publish straight to active
    _ready(env)
    monkeypatch.setattr(
        env.library.index, "upsert", lambda _entries: (_ for _ in ()).throw(OSError("killed"))
    )

    report = env.cycle()

    assert report.status == "failed"
    [v1, v2] = env.library.versions("sql-review")
    assert (v1.status, v2.status) == ("retired", "active")  # SQL committed first
    monkeypatch.undo()
    assert {v for v, _ in env.library.index.snapshot().values()} == {1}  # Chroma is behind
    reopened = make_env(collection="crash-test")
    assert {h for _, h in reopened.library.index.snapshot().values()} == {v2.content_hash}
    assert reopened.library.search(TASK)[0].version == 2


def test_a_canary_that_does_worse_live_is_rolled_back_automatically(env: Env) -> None:
    _ready(env)
    assert env.cycle().proposals[0].status == "promoted"
    for user in ("u1", "u2", "u3", "u4", "u5"):
        env.record(user, version=2, score=0.1, age=timedelta(0))
    for user in ("u6", "u7", "u8", "u9", "u10"):
        env.record(user, version=1, score=0.8, age=timedelta(0))
    env.brain.evolver = "skip"

    report = env.cycle()

    [decision] = report.canaries
    assert decision.decision == "rolled_back"
    assert decision.reason.startswith("live mean 0.100 over 5 outcomes is worse than 0.800")
    assert [v.status for v in env.library.versions("sql-review")] == ["active", "retired"]
    choice = LibrarySkillChooser(env.library, seed=3).choose(
        TASK, tenant="t", user="anyone", skill=None
    )
    assert choice is not None and choice["version"] == 1


def test_manual_rollback_restores_the_previous_version_byte_identically(
    make_env: Callable[..., Env], tmp_path: Path
) -> None:
    env = make_env(collection=COLLECTION, canary_percent=0)
    _ready(env)
    original = env.library.load("sql-review").bundle
    assert env.cycle().proposals[0].status == "promoted"
    assert env.library.load("sql-review").bundle.skill_md != SKILL.encode()
    config = tmp_path / "evofuse.yaml"
    raw = env.settings.model_dump(mode="json", exclude_none=True)
    raw["skills"]["dir"] = str(tmp_path / "no-seed-skills")
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")

    result = CliRunner().invoke(app, ["skills", "rollback", "sql-review", "--config", str(config)])

    assert result.exit_code == 0, result.output
    assert "sql-review is now at v1" in result.output
    fresh = Library(
        Store(env.settings.storage.database_url),
        SkillIndex(chroma_client(env.settings.storage.chroma), MiniLMEmbedder(), COLLECTION),
    )
    try:
        restored = fresh.load("sql-review")
        assert restored.info.version == 1
        assert restored.bundle == original  # every file, byte for byte
        assert restored.bundle.skill_md == SKILL.encode()
        assert restored.info.content_hash == original.content_hash
        assert {h for _, h in fresh.index.snapshot().values()} == {original.content_hash}
    finally:
        fresh.close()

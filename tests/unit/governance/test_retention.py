"""`storage.retention_days`: old run text is deleted or scrubbed, outcome scores stay, newer runs
and running ones are untouched; a second pass finds nothing; the CLI runs it once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from evofuse.config.loader import settings_from_mapping
from evofuse.config.models import Settings
from evofuse.errors import ConfigError
from evofuse.governance.retention import apply_retention
from evofuse.store import OutcomeRow, Store, utcnow
from evofuse.store.audit import AuditRow
from evofuse.store.feedback import FeedbackRow
from evofuse.store.runs import CandidateRow, RunRow, StepRow, VerdictRow
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)


def settings(url: str, **storage: Any) -> Settings:
    return settings_from_mapping(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
            "fusion": {
                "default_profile": "p",
                "profiles": {"p": {"models": ["m"], "mode": "single"}},
            },
            "storage": {"database_url": url, "chroma": "unused", **storage},
        }
    )


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:  # noqa: F811
    store = Store(database_url)
    yield store
    store.close()


def add_run(store: Store, run_id: str, age_days: float, status: str = "succeeded") -> None:
    at = utcnow() - timedelta(days=age_days)
    with store.session() as session:
        session.add(
            RunRow(
                id=run_id,
                graph="assistant",
                tenant="acme",
                user_hash="u",
                status=status,
                task=f"{run_id} task text",
                answer=f"{run_id} answer",
                cost_usd=0.01,
                prompt_tokens=7,
                created_at=at,
            )
        )
        session.flush()
        step = StepRow(run_id=run_id, index=0, name="answer", status="succeeded", content="a")
        session.add(step)
        session.flush()
        assert step.id is not None
        session.add(
            CandidateRow(step_id=step.id, model="m", status="ok", content="c", latency_ms=1)
        )
        session.add(VerdictRow(step_id=step.id, status="ok", rationale="because"))
        session.add(
            FeedbackRow(run_id=run_id, tenant="acme", user_hash="u", score=0.5, comment="meh")
        )


def seed(store: Store) -> None:
    add_run(store, "old", 40)
    add_run(store, "old-running", 40, status="running")
    add_run(store, "new", 1)
    with store.session() as session:
        # An outcome of an old run: the aggregate that must survive. (Skill version 1 exists
        # only as a number here; outcomes point at versions, so make one.)
        from evofuse.store import SkillRow, SkillVersionRow

        skill = SkillRow(name="s", scope="global")
        session.add(skill)
        session.flush()
        assert skill.id is not None
        version = SkillVersionRow(
            skill_id=skill.id,
            version=1,
            content_hash="h",
            origin="seed",
            status="active",
            description="d",
        )
        session.add(version)
        session.flush()
        assert version.id is not None
        session.add(
            OutcomeRow(
                run_id="old",
                skill_version_id=version.id,
                skill_name="s",
                version=1,
                tenant="acme",
                user_hash="u",
                score=0.9,
                source="judge",
            )
        )


def test_delete_mode_removes_old_runs_and_keeps_outcomes(store: Store, database_url: str) -> None:  # noqa: F811
    seed(store)
    config = settings(database_url, retention_days=30)
    dry = apply_retention(config, store, actor="test", dry_run=True)
    assert dry is not None and dry.runs == 1
    report = apply_retention(config, store, actor="test")
    assert report is not None
    assert (report.runs, report.steps, report.candidates, report.verdicts, report.feedback) == (
        1,
        1,
        1,
        1,
        1,
    )
    with store.session() as session:
        assert sorted(session.exec(select(RunRow.id)).all()) == ["new", "old-running"]
        assert len(session.exec(select(StepRow)).all()) == 2
        assert [o.score for o in session.exec(select(OutcomeRow)).all()] == [0.9]
        audit = session.exec(select(AuditRow)).all()
    assert [a.action for a in audit] == ["retention.run"]
    again = apply_retention(config, store, actor="test")
    assert again is not None and again.runs == 0


def test_scrub_mode_empties_text_and_keeps_the_numbers(store: Store, database_url: str) -> None:  # noqa: F811
    seed(store)
    config = settings(database_url, retention_days=30, retention_mode="scrub")
    report = apply_retention(config, store, actor="test")
    assert report is not None and report.runs == 1 and report.feedback == 1
    with store.session() as session:
        old = session.get(RunRow, "old")
        assert old is not None and old.task is None and old.answer is None
        assert old.cost_usd == 0.01 and old.prompt_tokens == 7 and old.status == "succeeded"
        new = session.get(RunRow, "new")
        assert new is not None and new.task == "new task text"
        running = session.get(RunRow, "old-running")
        assert running is not None and running.task == "old-running task text"
        texts = [c.content for c in session.exec(select(CandidateRow)).all()]
        assert texts.count(None) == 1 and texts.count("c") == 2
        comments = sorted(str(f.comment) for f in session.exec(select(FeedbackRow)).all())
        assert comments == ["None", "meh", "meh"]
        assert [f.score for f in session.exec(select(FeedbackRow)).all()] == [0.5, 0.5, 0.5]
    again = apply_retention(config, store, actor="test")
    assert again is not None and again.runs == 0 and again.candidates == 0


def test_without_retention_days_nothing_happens(store: Store, database_url: str) -> None:  # noqa: F811
    seed(store)
    assert apply_retention(settings(database_url), store, actor="test") is None


def test_a_bad_retention_schedule_names_its_key() -> None:
    from evofuse.evolution.scheduler import cron_trigger

    with pytest.raises(ConfigError, match=r"storage\.retention_schedule"):
        cron_trigger("every night", "storage.retention_schedule")


def test_the_cli_runs_it_once_and_refuses_without_a_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.api.test_cli import cli, write_config

    config = write_config(tmp_path)
    code, out, err = cli(capsys, "retention", "run", "--config", str(config))
    assert code == 2 and "storage.retention_days is not set" in err
    text = config.read_text().replace(
        "storage: {", "storage: {retention_days: 30, retention_mode: scrub, "
    )
    config.write_text(text)
    store = Store(f"sqlite:///{tmp_path}/e.db")
    seed(store)
    store.close()
    code, out, err = cli(capsys, "retention", "run", "--json", "--config", str(config))
    assert code == 0, err
    document = json.loads(out)
    assert document["runs"] == 1 and document["mode"] == "scrub"
    code, out, err = cli(capsys, "audit", "list", "--json", "--config", str(config))
    assert code == 0 and [e["action"] for e in json.loads(out)] == ["retention.run"]
    assert json.loads(out)[0]["actor"].startswith("cli:")


def test_checkpoints_go_only_for_threads_whose_every_run_expired(tmp_path: Path) -> None:
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.sqlite import SqliteSaver

    from evofuse.runtime.checkpoint import checkpoint_target

    url = f"sqlite:///{tmp_path}/evofuse.db"
    store = Store(url)
    add_run(store, "old", 40)
    add_run(store, "old-continued", 40)
    add_run(store, "continued-today", 1)
    with store.session() as session:
        for run_id, thread in (
            ("old", "t-old"),
            ("old-continued", "t-live"),
            ("continued-today", "t-live"),
        ):
            row = session.get(RunRow, run_id)
            assert row is not None
            row.thread_id = thread
            session.add(row)
    _, path = checkpoint_target(url)

    def threads() -> set[str]:
        with SqliteSaver.from_conn_string(path) as saver:
            return {c.config["configurable"]["thread_id"] for c in saver.list(None)}

    with SqliteSaver.from_conn_string(path) as saver:
        saver.setup()
        for thread in ("t-old", "t-live"):
            config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
            saver.put(config, empty_checkpoint(), {}, {})  # type: ignore[arg-type]
    assert threads() == {"t-old", "t-live"}
    report = apply_retention(settings(url, retention_days=30), store, actor="test")
    store.close()
    assert report is not None and report.runs == 2 and report.checkpoint_threads == 1
    assert threads() == {"t-live"}  # a thread a newer run still uses keeps its checkpoints

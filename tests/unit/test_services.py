"""The composition root builds parts without side effects; hosts recover dead runs explicitly."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from evofuse.api import create_app
from evofuse.config.loader import settings_from_mapping
from evofuse.services import Services
from evofuse.store.runs import RunRow

REPO = Path(__file__).resolve().parents[2]
DEAD_PID = 2**22 + 12345  # above Linux's pid_max: no process has it


def services(tmp_path: Path) -> Services:
    return Services.from_settings(
        settings_from_mapping(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
                "fusion": {"default_profile": "p", "profiles": {"p": {"models": ["m"]}}},
                "storage": {
                    "database_url": f"sqlite:///{tmp_path}/evofuse.db",
                    "chroma": str(tmp_path / "chroma"),
                },
                "skills": {"dir": str(tmp_path / "no-skills")},
                "graphs": str(REPO / "langgraph.json"),
            }
        )
    )


def left_running(parts: Services) -> None:
    """A run whose process died on this host before it finished."""
    with parts.store.session() as session:
        session.add(RunRow(id="orphan", graph="g", owner=f"{socket.gethostname()}:{DEAD_PID}"))


def status(parts: Services) -> str:
    with parts.store.session() as session:
        run = session.get(RunRow, "orphan")
        assert run is not None
        return run.status


def test_building_the_recorder_changes_no_run(tmp_path: Path) -> None:
    parts = services(tmp_path)
    try:
        left_running(parts)
        assert parts.recorder is parts.recorder
        assert status(parts) == "running"  # building a part is no recovery
        assert parts.mark_interrupted_runs() == 1
        assert status(parts) == "interrupted"
    finally:
        parts.close()


def test_the_api_recovers_dead_runs_as_it_starts_and_shares_the_services_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVOFUSE_USER_HASH_SECRET", "services-test-secret")
    parts = services(tmp_path)
    try:
        left_running(parts)
        app = create_app(parts)
        assert status(parts) == "interrupted"
        runner = app.state.api.runner
        # The Services' parts, not a second wiring of them; no checkpoints for the API.
        assert runner.engine is parts.engine and runner.recorder is parts.recorder
        assert runner.selector is parts.selector and runner.hasher is parts.hasher
        assert runner._use_checkpoints is False
    finally:
        parts.close()

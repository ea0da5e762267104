"""`/healthz` says `models: ready` under `serve --workers N` only once every worker is warm."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evofuse.readiness import READY_DIR_ENV, WORKERS_ENV, WorkerReadiness


def test_a_single_process_reports_its_own_state() -> None:
    single = WorkerReadiness()
    single.mark_ready()  # nowhere to write: nothing happens
    assert single.all_ready(True) and not single.all_ready(False)


def test_several_workers_are_ready_only_when_each_live_one_has_said_so(tmp_path: Path) -> None:
    readiness = WorkerReadiness(tmp_path, workers=2)
    readiness.mark_ready()  # this worker
    assert (tmp_path / str(os.getpid())).exists()
    assert not readiness.all_ready(True)  # the other worker is still loading

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / str(dead.pid)).touch()  # a worker that died (uvicorn replaces it)
    (tmp_path / "notes.txt").touch()  # not a worker's mark
    assert not readiness.all_ready(True)

    (tmp_path / str(os.getppid())).touch()  # a second live worker
    assert readiness.all_ready(True)
    assert not readiness.all_ready(False)  # this worker itself must be warm too


def test_a_removed_folder_means_not_ready(tmp_path: Path) -> None:
    readiness = WorkerReadiness(tmp_path / "gone", workers=1)
    assert not readiness.all_ready(True)


def test_serve_passes_the_folder_and_the_count_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(READY_DIR_ENV, raising=False)
    assert WorkerReadiness.from_env() == WorkerReadiness()
    monkeypatch.setenv(READY_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert WorkerReadiness.from_env() == WorkerReadiness(tmp_path, 3)

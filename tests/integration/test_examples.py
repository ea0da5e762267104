"""The examples in examples/ run as documented: as subprocesses, against real servers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, model_entry, running_upstream

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def scripted_config(tmp_path: Path) -> Iterator[Path]:
    script = UpstreamScript(
        models={
            "a": ModelBehavior(content="Use a dict lookup with .get('id') to avoid the KeyError."),
            "b": ModelBehavior(content="The key 'id' is missing from the dict; check the input."),
            "judge": JUDGE,
        }
    )
    with running_upstream(script) as base_url:
        config = {
            "model_list": [model_entry(n, base_url) for n in ("a", "b", "judge")],
            "fusion": {
                "default_profile": "p",
                "profiles": {"p": {"models": ["a", "b"], "judge": "judge", "mode": "merge"}},
            },
            "skills": {"dir": str(REPO / "skills")},
            "storage": {
                "database_url": f"sqlite:///{tmp_path}/evofuse.db",
                "chroma": str(tmp_path / "chroma"),
            },
            "graphs": str(REPO / "langgraph.json"),
        }
        path = tmp_path / "evofuse.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        yield path


def run_example(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run(
        [sys.executable, str(REPO / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


@pytest.mark.slow
def test_custom_graph_then_feedback(scripted_config: Path, tmp_path: Path) -> None:
    task = "Explain this error: KeyError: 'id'"
    proc = run_example("custom_graph.py", task, "--config", str(scripted_config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "steps: ['draft', 'check', 'final']" in proc.stdout
    assert "skill: explain-error" in proc.stdout  # the Selector found the right seed skill
    run_id = re.search(r"run: ([0-9a-f]{32})", proc.stdout)
    assert run_id, proc.stdout

    rated = run_example(
        "record_feedback.py",
        run_id[1],
        "0.9",
        "--comment",
        "clear",
        "--config",
        str(scripted_config),
        cwd=tmp_path,
    )
    assert rated.returncode == 0, rated.stderr
    assert f"recorded feedback 0.9 for run {run_id[1]}" in rated.stdout

    from sqlmodel import select

    from evofuse.store import Store
    from evofuse.store.feedback import FeedbackRow
    from evofuse.store.outcomes import OutcomeRow

    store = Store(f"sqlite:///{tmp_path}/evofuse.db")
    with store.session() as session:
        feedback = session.exec(select(FeedbackRow)).all()
        outcomes = session.exec(select(OutcomeRow).where(OutcomeRow.source == "feedback")).all()
    store.close()
    assert [(f.score, f.comment) for f in feedback] == [(0.9, "clear")]
    assert [(o.skill_name, o.score) for o in outcomes] == [("explain-error", 0.9)]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_assistant_on_the_local_model(tmp_path: Path) -> None:
    """The documented local run: the real SmolLM2 server, the repo's evofuse.yaml."""
    pytest.importorskip("llama_cpp", reason="the local extra (llama-cpp-python) is not installed")
    env_db = {
        "EVOFUSE_STORAGE__DATABASE_URL": f"sqlite:///{tmp_path}/evofuse.db",
        "EVOFUSE_STORAGE__CHROMA": str(tmp_path / "chroma"),
        "EVOFUSE_SKILLS__DIR": str(REPO / "skills"),
        "EVOFUSE_GRAPHS": str(REPO / "langgraph.json"),
    }
    os.environ.update(env_db)
    try:
        proc = run_example(
            "run_assistant_local.py",
            "Write a commit message for: fix typo in README",
            "--config",
            str(REPO / "evofuse.yaml"),
            cwd=tmp_path,
        )
    finally:
        for key in env_db:
            os.environ.pop(key, None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    document = json.loads(proc.stdout)
    assert document["answer"].strip()
    assert document["evofuse"]["steps"] and document["evofuse"]["run_id"]
    assert all(c["cost_usd"] is None for c in document["evofuse"]["candidates"])

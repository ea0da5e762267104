"""`evofuse eval` as a user runs it: a subprocess against a scripted local upstream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from evofuse.testing import ModelBehavior, UpstreamScript, model_entry, upstream_process

pytestmark = pytest.mark.slow  # each CLI run is a fresh process that imports litellm

SCRIPT = UpstreamScript(
    models={
        "right": ModelBehavior(content="Two and two.\nAnswer: 4"),
        "also": ModelBehavior(content="The answer is 4."),
        "wrong": ModelBehavior(content="Answer: 5"),
        "judge": ModelBehavior(kind="judge"),
    },
    default=None,
)
# Three tasks whose answer is 4 and one whose answer is 5.
TASKS = [
    {"question": "What is 2 + 2?", "answer": 4, "check": "number", "skill": "math"},
    {"question": "What is 3 + 1?", "answer": "4", "check": "number", "id": "three-plus-one"},
    {"question": "What is 8 / 2?", "answer": "4"},
    {"question": "What is 2 + 3?", "answer": "5", "check": "number"},
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("eval")
    with upstream_process(SCRIPT) as url:
        config = {
            "model_list": [
                model_entry(n, url, input_cost_per_token=1e-6, output_cost_per_token=2e-6)
                for n in SCRIPT.models
            ],
            "fusion": {
                "default_profile": "panel",
                "profiles": {
                    "panel": {"models": ["right", "also", "wrong"], "judge": "judge"},
                },
            },
        }
        (folder / "evofuse.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        (folder / "suite.jsonl").write_text(
            "\n".join(json.dumps(t) for t in TASKS) + "\n", encoding="utf-8"
        )
        yield folder


def evofuse(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOFUSE_")}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "evofuse.cli.app", "eval", *args, "--config", "evofuse.yaml"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=folder,
        check=False,
    )


def one_document(stdout: str) -> dict[str, Any]:
    document, end = json.JSONDecoder().raw_decode(stdout)
    assert stdout[end:].strip() == "", f"more than one document on stdout: {stdout!r}"
    assert isinstance(document, dict)
    return document


def test_json_report_shape_and_numbers(workdir: Path) -> None:
    proc = evofuse(workdir, "suite.jsonl", "--json", "--seed", "1", "--concurrency", "2")
    assert proc.returncode == 0, proc.stderr
    report = one_document(proc.stdout)
    assert set(report) == {
        "suite", "profile", "seed", "tasks", "concurrency", "duration_s", "baseline", "arms",
    }  # fmt: skip
    assert (report["suite"], report["profile"], report["tasks"]) == ("suite.jsonl", "panel", 4)
    arms = {a["arm"]: a for a in report["arms"]}
    assert list(arms) == [
        "single:right", "single:also", "single:wrong", "vote", "best-of", "merge", "debate", "auto",
    ]  # fmt: skip
    assert [arms[f"single:{m}"]["correct"] for m in ("right", "also", "wrong")] == [3, 3, 1]
    # `right` and `also` tie on accuracy: the cheaper one (shorter answers) is the baseline
    assert report["baseline"] == "single:also"
    assert arms["single:wrong"]["wrong"] == ["line-1", "three-plus-one", "line-3"]
    vote = arms["vote"]
    assert vote["correct"] == 3 and vote["calls"] == 12 and vote["errors"] == 0
    assert vote["vs_baseline"] == {
        "baseline": "single:also", "wins": 0, "losses": 0, "p_value": 1.0,
    }  # fmt: skip
    assert arms["debate"]["calls"] == 4 * (3 + 3 + 1)  # first answers, one revision, judge
    for arm in report["arms"]:
        assert 0 <= arm["ci95"][0] <= arm["accuracy"] <= arm["ci95"][1] <= 1
        assert arm["cost_usd"] > 0 and arm["latency_ms_p50"] > 0
    assert sum(arms["auto"]["chosen_modes"].values()) == 4
    assert arms["auto"]["chosen_modes"].get("single", 0) >= 1  # warm-up starts cheapest
    # the progress bar went to stderr, never to stdout
    assert "{" not in proc.stderr


def test_table_on_a_terminal(workdir: Path) -> None:
    proc = evofuse(workdir, "suite.jsonl", "--modes", "single,vote", "--n", "2")
    assert proc.returncode == 0, proc.stderr
    assert "accuracy (95% CI)" in proc.stdout and "single:wrong" in proc.stdout
    assert "single:wrong wrong: line-1, three-plus-one" in " ".join(proc.stdout.split())


def test_a_reasoning_gym_suite_runs_offline(workdir: Path) -> None:
    proc = evofuse(workdir, "rg:basic_arithmetic", "--n", "3", "--modes", "single", "--json")
    assert proc.returncode == 0, proc.stderr
    report = one_document(proc.stdout)
    assert report["suite"] == "rg:basic_arithmetic" and report["tasks"] == 3
    assert [a["tasks"] for a in report["arms"]] == [3, 3, 3]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "q", "answer": "a"}\n{"question": "q2"\n', "bad.jsonl:2: not valid JSON"),
        (
            '{"question": "q", "answer": "a"}\n\n{"answer": "a"}\n',
            "bad.jsonl:3: missing `question`",
        ),
        ("\n", "holds no tasks"),
    ],
)
def test_a_bad_suite_exits_2_naming_the_line(workdir: Path, content: str, message: str) -> None:
    (workdir / "bad.jsonl").write_text(content, encoding="utf-8")
    proc = evofuse(workdir, "bad.jsonl", "--json")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and message in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr


def test_unknown_dataset_and_mode_exit_2(workdir: Path) -> None:
    proc = evofuse(workdir, "rg:no_such_generator")
    assert proc.returncode == 2 and "Unknown reasoning-gym dataset" in proc.stderr
    proc = evofuse(workdir, "suite.jsonl", "--modes", "single,majority")
    assert proc.returncode == 2 and "Unknown mode 'majority'" in proc.stderr

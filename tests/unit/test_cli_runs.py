"""`evofuse runs show` takes the id as `runs list` prints it, or any unique start of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from evofuse.cli.app import app, main
from evofuse.ports import RunInfo
from evofuse.store import Store
from evofuse.store.recorder import SqlRunRecorder

IDS = ["abc12300000000000000000000000001", "abc12399999999999999999999999999", "f00d" + "0" * 28]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "evofuse.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
                "fusion": {"default_profile": "p", "profiles": {"p": {"models": ["m"]}}},
            }
        ),
        encoding="utf-8",
    )
    store = Store(f"sqlite:///{tmp_path}/.evofuse/evofuse.db")
    recorder = SqlRunRecorder(store)
    for run_id in IDS:
        recorder.start(run_id, RunInfo(graph_id="assistant", task="t"))
    store.close()
    return path


def show(config: Path, given: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["runs", "show", given, "--json", "--config", str(config)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize("given", [IDS[2], "f00d", "F00D", "f00d0000-0000"])
def test_a_unique_prefix_or_the_whole_id_shows_the_run(config: Path, given: str) -> None:
    code, output = show(config, given)
    assert code == 0
    assert json.loads(output)["run_id"] == IDS[2]


def test_an_ambiguous_prefix_lists_the_candidates(config: Path) -> None:
    from evofuse.errors import UserError

    with pytest.raises(UserError, match="ambiguous") as caught:
        show(config, "abc123")
    assert IDS[0] in caught.value.message and IDS[1] in caught.value.message
    assert show(config, "abc1239")[0] == 0


def test_no_match_says_how_to_find_ids(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["evofuse", "runs", "show", "zzz", "--config", str(config)])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "No run 'zzz'" in err and "evofuse runs list" in err

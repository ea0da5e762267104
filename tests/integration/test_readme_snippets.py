"""The README's Python snippets run as written, against the scripted upstream.

A snippet whose first line is `# needs: …` depends on something a test cannot provide offline
(a running server, an API key): it is skipped, with that line as the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, model_entry, upstream_process

pytestmark = pytest.mark.slow  # each snippet runs in a fresh interpreter

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
SNIPPETS = [
    (README[: m.start()].count("\n") + 1, m.group(1))
    for m in re.finditer(r"```python\n(.*?)```", README, re.DOTALL)
]
SCRIPT = UpstreamScript(
    models={
        "m1": ModelBehavior(content="2, 3 and 5."),
        "m2": ModelBehavior(content="Two, three, five."),
        "judge": JUDGE,
    },
    default=None,
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder whose ./evofuse.yaml sends every model to the scripted upstream."""
    folder = tmp_path_factory.mktemp("readme")
    with upstream_process(SCRIPT) as url:
        config = {
            "model_list": [model_entry(name, url) for name in SCRIPT.models],
            "fusion": {
                "default_profile": "panel",
                "profiles": {"panel": {"models": ["m1", "m2"], "judge": "judge"}},
            },
            "skills": {"dir": str(REPO / "skills")},
            "graphs": str(REPO / "langgraph.json"),
        }
        (folder / "evofuse.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        yield folder


def test_the_readme_has_snippets_to_check() -> None:
    assert len(SNIPPETS) >= 5
    assert sum(not code.startswith("# needs:") for _, code in SNIPPETS) >= 3


@pytest.mark.parametrize(("line", "code"), SNIPPETS, ids=[f"README.md:{n}" for n, _ in SNIPPETS])
def test_snippet_runs_as_written(project: Path, line: int, code: str) -> None:
    first = code.splitlines()[0]
    if first.startswith("# needs:"):
        pytest.skip(f"README.md:{line} {first.removeprefix('# ')}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOFUSE_")}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"README.md:{line}\n{done.stderr[-3000:]}"

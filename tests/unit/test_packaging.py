"""Guards on the package layout and start-up cost."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_platform_folder_does_not_shadow_the_stdlib_module() -> None:
    # platform/ is only a source root: an __init__.py there would hide Python's `platform`
    # module and break uuid, httpx and `python -m pytest`.
    assert not (REPO / "platform" / "__init__.py").exists()
    import platform

    assert hasattr(platform, "python_version") and platform.__file__ is not None
    assert "site-packages" not in platform.__file__ and "/platform/" not in platform.__file__
    assert uuid.uuid4()


def test_help_does_not_import_heavy_dependencies() -> None:
    # `evofuse --help` must stay instant: litellm alone costs seconds to import.
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from evofuse.cli.app import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'fuse' in result.output\n"
        "heavy = [m for m in ('litellm', 'chromadb', 'langgraph', 'openai') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_prompts_ship_with_the_package() -> None:
    from evofuse.fusion.prompts import load_prompt

    for name in ("judge_best_of", "judge_merge", "debate_revise", "judge_input"):
        prompt = load_prompt(name)
        assert prompt.text.strip() and prompt.id.startswith(f"{name}.v")

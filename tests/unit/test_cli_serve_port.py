"""`evofuse serve` on a port that is taken: one clear line, exit 2, no success banner first."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import yaml


def test_a_port_in_use_is_one_clear_error_before_the_banner(tmp_path: Path) -> None:
    config = tmp_path / "evofuse.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
                "fusion": {"default_profile": "p", "profiles": {"p": {"models": ["m"]}}},
                "auth": {"enabled": False},
            }
        ),
        encoding="utf-8",
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "evofuse.cli.app", "serve"),
                *("--port", str(port), "--config", str(config)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0] == f"Error: Port {port} on 127.0.0.1 is already in use", proc.stderr
    assert "EvoFuse API on" not in proc.stderr and "Traceback" not in proc.stderr
    assert "--port" in lines[1]

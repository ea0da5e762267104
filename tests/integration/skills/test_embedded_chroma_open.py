"""Several processes opening one new embedded Chroma folder at once (`serve --workers N` starts
its workers together) must all get a working skill index, not a race on Chroma's schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Each process says when it is ready, spins until the go file appears, then opens the index.
PROGRAM = """
import sys
from pathlib import Path
from evofuse.skills.embeddings import MiniLMEmbedder
from evofuse.skills.index import open_skill_index
import chromadb  # imported before the go: only the opening races
folder, go = sys.argv[1], Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    pass
index = open_skill_index(folder, MiniLMEmbedder())
print("opened", index.count())  # a read through the new client
"""


def test_processes_opening_a_new_embedded_store_together_all_succeed(tmp_path: Path) -> None:
    # Without the lock, 7 of 10 such starts of four processes lost one of them.
    failures: list[str] = []
    for attempt in range(5):
        folder, go = tmp_path / f"chroma{attempt}", tmp_path / f"go{attempt}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", PROGRAM, str(folder), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        go.touch()
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            if proc.returncode or not out.startswith("opened"):
                failures.append(f"attempt {attempt}: {err.strip().splitlines()[-1:]}")
    assert not failures, failures

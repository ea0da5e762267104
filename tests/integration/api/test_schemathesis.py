"""Schemathesis fuzzes every operation of /openapi.json on a live server: never a 5xx.

Besides "no server error" it checks that every status code, content type, header and body
the server sends is the one the document promises. Refusing a schema-valid request is allowed:
EvoFuse refuses parameters it cannot honour (n > 1, tools, …) instead of dropping them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.api.conftest import LiveServer, server_env

pytestmark = pytest.mark.slow

ST = Path(sys.executable).with_name("st")
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]


@pytest.mark.timeout(300)
def test_fuzzing_the_openapi_document_finds_no_server_error(
    live: LiveServer, tmp_path: Path
) -> None:
    key = live.key("fuzz", "--operator")
    done = subprocess.run(
        [
            str(ST),
            "run",
            f"{live.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            ",".join(CHECKS),
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            "10",  # per operation and phase: this bounds the run (about 2 min on 2 busy cores)
            "--request-timeout",
            "30",
            "--seed",
            "20261128",  # the same cases every run, so a failure reproduces
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        env=server_env(),
        cwd=tmp_path,  # schemathesis keeps a .schemathesis/ cache in its working directory
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "generated" in done.stdout

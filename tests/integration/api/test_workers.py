"""`evofuse serve --workers 2`: both workers serve, share the database, and /metrics sums them."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from evofuse.testing import UpstreamServer
from tests.integration.api.conftest import QUESTION_BODY, LiveServer, start_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_workers(
    upstream: UpstreamServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("workers")
    yield from start_server(folder, upstream, f"sqlite:///{folder}/evofuse.db", "--workers", "2")


def test_healthz_says_ready_only_once_every_worker_is_warm(two_workers: LiveServer) -> None:
    # First in this module, while the workers may still be warming. A probe reaches whichever
    # worker accepts it: once one says "ready", all must be warm, so every later probe says so.
    deadline = time.monotonic() + 120
    with httpx.Client(timeout=10) as client:
        while client.get(f"{two_workers.url}/healthz").json()["models"] != "ready":
            assert time.monotonic() < deadline, "the workers never warmed up"
            time.sleep(0.2)
        probes = [
            client.get(f"{two_workers.url}/healthz", headers={"Connection": "close"}).json()
            for _ in range(12)
        ]
    assert {p["models"] for p in probes} == {"ready"}


def test_two_workers_serve_and_count_together(two_workers: LiveServer) -> None:
    two_workers.key("acme")
    with httpx.Client(timeout=60) as client:
        for _ in range(8):
            response = client.post(
                f"{two_workers.v1}/chat/completions",
                json={**QUESTION_BODY, "model": "fusion/p"},
                headers=two_workers.auth("acme"),
            )
            assert response.status_code == 200, response.text
        runs = client.get(f"{two_workers.v1}/runs", headers=two_workers.auth("acme")).json()
        metrics = client.get(f"{two_workers.url}/metrics").text
    assert len(runs["data"]) == 8 and {r["status"] for r in runs["data"]} == {"succeeded"}
    # Each worker counts its own requests; the exposition adds them up across processes.
    total = re.search(r'evofuse_runs_total\{model="fusion/p",status="succeeded"\} (\S+)', metrics)
    assert total is not None and float(total[1]) == 8.0

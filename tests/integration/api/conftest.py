"""A real `evofuse serve` process whose models are a scripted upstream on 127.0.0.1.

The upstream runs in a thread of the test process (so tests can read what it received); keys
are made with `evofuse keys create --json`, the way an operator would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, UpstreamServer, model_entry
from tests.support.databases import fresh_postgres_database

REPO = Path(__file__).resolve().parents[3]
EVOFUSE = Path(sys.executable).with_name("evofuse")
STARTUP_TIMEOUT_S = 90.0
PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
QUESTION_BODY: dict[str, Any] = {"messages": [{"role": "user", "content": "What is 2 + 2?"}]}

SCRIPT = UpstreamScript(
    models={
        "m1": ModelBehavior(content="Paris is the capital of France.", latency_ms=20),
        "m2": ModelBehavior(content="The capital of France is Paris.", latency_ms=30),
        "j": JUDGE.model_copy(update={"latency_ms": 10}),
        "hang1": ModelBehavior(kind="hang"),
        "hang2": ModelBehavior(kind="hang"),
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env() -> dict[str, str]:
    return {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "EVOFUSE_USER_HASH_SECRET": "integration-secret",
        "ANONYMIZED_TELEMETRY": "False",
    }


def write_config(folder: Path, upstream_url: str, database_url: str) -> Path:
    config = {
        "model_list": [
            model_entry(name, upstream_url, **PRICE) for name in ("m1", "m2", "j", "hang1", "hang2")
        ],
        "fusion": {
            "default_profile": "p",
            "profiles": {
                "p": {"models": ["m1", "m2"], "judge": "j", "mode": "merge", "timeout_s": 30},
                "stuck": {"models": ["hang1", "hang2"], "judge": "j", "timeout_s": 120},
            },
        },
        "storage": {"database_url": database_url, "chroma": str(folder / "chroma")},
        "skills": {
            "dir": str(folder / "no-seed-skills")
        },  # empty: answers must not depend on seeds
        "graphs": str(REPO / "langgraph.json"),
        "auth": {"enabled": True},
    }
    path = folder / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    config: Path
    upstream: UpstreamServer
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def key(self, tenant: str, *options: str) -> str:
        """A new key made by the real CLI (`evofuse keys create --json`)."""
        done = subprocess.run(
            [
                str(EVOFUSE),
                "keys",
                "create",
                "--tenant",
                tenant,
                *options,
                "--json",
                "--config",
                str(self.config),
            ],
            capture_output=True,
            text=True,
            env=server_env(),
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        secret: str = json.loads(done.stdout)["key"]
        self.keys[tenant] = secret
        return secret

    def auth(self, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[tenant]}"}

    def openai(self, tenant: str, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.v1, api_key=self.keys[tenant], max_retries=0, **options)

    def async_openai(self, tenant: str, **options: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.v1, api_key=self.keys[tenant], max_retries=0, **options
        )

    def run(self, tenant: str, run_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.v1}/runs/{run_id}", headers=self.auth(tenant), timeout=10)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def wait_for_status(self, tenant: str, run_id: str, status: str, timeout_s: float = 15) -> None:
        deadline = time.monotonic() + timeout_s
        seen = None
        while time.monotonic() < deadline:
            seen = self.run(tenant, run_id)["status"]
            if seen == status:
                return
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} is {seen!r}, not {status!r}")


def start_server(
    folder: Path, upstream: UpstreamServer, database_url: str, *options: str
) -> Iterator[LiveServer]:
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder, upstream.base_url, database_url)
    yield from serve(folder, config, upstream, *options)


def serve(
    folder: Path, config: Path, upstream: UpstreamServer, *options: str
) -> Iterator[LiveServer]:
    """`evofuse serve --config CONFIG` on a free port, from `folder`, until the generator ends."""
    port = free_port()
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(EVOFUSE),
                "serve",
                "--port",
                str(port),
                "--no-access-log",
                *options,
                "--config",
                str(config),
            ],
            cwd=folder,
            env=server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", config=config, upstream=upstream)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"evofuse serve exited early:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"evofuse serve did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer(SCRIPT) as server:
        yield server


@pytest.fixture(scope="module")
def live(
    upstream: UpstreamServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server on SQLite for the whole module, with keys for tenants acme and globex."""
    folder = tmp_path_factory.mktemp("live")
    for server in start_server(folder, upstream, f"sqlite:///{folder}/evofuse.db"):
        server.key("acme")
        server.key("globex")
        yield server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live_db(
    request: pytest.FixtureRequest,
    upstream: UpstreamServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """A server on SQLite, then one on a fresh PostgreSQL database: where the SQL matters."""
    folder = tmp_path_factory.mktemp(f"live-{request.param}")
    if request.param == "sqlite":
        yield from start_server(folder, upstream, f"sqlite:///{folder}/evofuse.db")
        return
    with fresh_postgres_database() as url:
        yield from start_server(folder, upstream, url)

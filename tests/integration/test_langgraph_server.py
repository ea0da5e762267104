"""The graphs of `langgraph.json` under LangGraph's own server, driven by LangGraph's SDK.

`langgraph dev` (the in-memory server of langgraph-cli[inmem]) knows nothing about EvoFuse: it
invokes each graph with only the context its client sent. The graphs must still run through
fusion against the models of `EVOFUSE_CONFIG` (here a scripted upstream) and record each run
exactly as `evofuse run` does: the run row, every step, the judge-derived outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from evofuse.store import Store
from evofuse.store.run_queries import get_run
from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, model_entry, upstream_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).with_name("langgraph")
HASH_SECRET = "langgraph-server-test-secret"
STEPS = {
    "assistant": None,  # the chosen skill's steps: at least one
    "code_review": ["understand", "find_defects", "write_review"],
    "research_brief": ["plan", "draft", "critique", "final"],
}
SCRIPT = UpstreamScript(
    models={
        "m1": ModelBehavior(content="First member's answer."),
        "m2": ModelBehavior(content="Second member's answer."),
        "down": ModelBehavior(kind="error", status=503, message="upstream unavailable"),
        "slow": ModelBehavior(content="Too late.", latency_ms=10_000),
        "judge": JUDGE,
    },
    default=None,
)


@dataclass
class Server:
    url: str
    database: Path

    def run(self, run_id: str) -> dict[str, Any]:
        """The run as `evofuse runs show` reads it (LangGraph's run id, as hex)."""
        store = Store(f"sqlite:///{self.database}")
        try:
            return get_run(store, run_id.replace("-", ""))
        finally:
            store.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_project(folder: Path, upstream: str) -> Path:
    """A folder as a user deploys from: langgraph.json, graphs/, and an EvoFuse config."""
    shutil.copy(REPO / "langgraph.json", folder / "langgraph.json")
    (folder / "graphs").symlink_to(REPO / "graphs")
    config = {
        "model_list": [
            model_entry(name, upstream, input_cost_per_token=1e-6, output_cost_per_token=2e-6)
            for name in SCRIPT.models
        ],
        "fusion": {
            "default_profile": "panel",
            "profiles": {
                "panel": {"models": ["m1", "m2"], "judge": "judge", "grace_s": 1.0},
                "broken": {"models": ["down"], "mode": "single"},
                "slow": {"models": ["slow"], "mode": "single"},
                # A cost cap makes the engine count tokens before dispatch (LiteLLM's tokenizer).
                "capped": {"models": ["m1", "m2"], "judge": "judge", "max_cost_usd": 0.5},
            },
        },
        "skills": {"dir": str(REPO / "skills")},
        "auth": {"enabled": False},
    }
    path = folder / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("langgraph-project")
    port = _free_port()
    log = folder / "langgraph-dev.log"
    with upstream_process(SCRIPT) as upstream:
        config = _write_project(folder, upstream)
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVOFUSE_")}
        env.update(
            EVOFUSE_CONFIG=str(config),
            EVOFUSE_USER_HASH_SECRET=HASH_SECRET,
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            LANGSMITH_TRACING="false",
            LANGGRAPH_CLI_NO_ANALYTICS="1",
        )
        command = [
            str(LANGGRAPH),
            *("dev", "--no-browser", "--no-reload", "--port", str(port)),
            *("--config", "langgraph.json"),
        ]
        with (
            log.open("w") as output,
            subprocess.Popen(
                command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT
            ) as proc,
        ):
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_healthy(url, proc, log)
                yield Server(url=url, database=folder / ".evofuse" / "evofuse.db")
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Any]:
    from langgraph_sdk import get_sync_client

    with get_sync_client(url=server.url, api_key=None) as sdk:
        yield sdk


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"langgraph dev did not answer /ok within 120 s:\n{log.read_text()[-4000:]}")


def _ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def test_the_server_lists_every_graph_of_langgraph_json(client: Any) -> None:
    registered = json.loads((REPO / "langgraph.json").read_text())["graphs"]
    assistants = client.assistants.search(limit=50)
    assert {a["graph_id"] for a in assistants} == set(registered)
    # The context form a client (or LangGraph Studio) sees: the fields a client may set.
    schemas = client.assistants.get_schemas(assistants[0]["assistant_id"])
    fields = set(schemas["context_schema"]["properties"])
    assert {"user", "mode", "profile", "skill", "deadline_s"} <= fields
    assert not {"engine", "recorder", "selector", "tenant"} & fields


@pytest.mark.parametrize("graph_id", sorted(STEPS))
def test_runs_wait_runs_the_graph_and_records_it_like_evofuse_run(
    server: Server, client: Any, graph_id: str
) -> None:
    thread = client.threads.create()
    run = client.runs.create(
        thread["thread_id"], graph_id, input=_ask("Review this SQL: SELECT * FROM orders")
    )
    state = client.runs.join(thread["thread_id"], run["run_id"])
    answer = state["messages"][-1]
    assert answer["type"] == "ai" and answer["content"]

    recorded = server.run(run["run_id"])
    assert recorded["status"] == "succeeded", recorded["error"]
    assert recorded["graph"] == graph_id
    assert recorded["thread_id"] == thread["thread_id"]
    assert recorded["answer"] == answer["content"]
    names = [step["name"] for step in recorded["steps"]]
    assert names == STEPS[graph_id] or (STEPS[graph_id] is None and names)
    for step in recorded["steps"]:
        assert step["status"] == "succeeded"
        assert {c["model"] for c in step["candidates"]} == {"m1", "m2"}
        assert step["judge"]["judge_model"] == "judge"
    assert recorded["skill"] is not None  # the Selector ran against the seed library


def test_runs_wait_returns_the_answer(server: Server, client: Any) -> None:
    thread = client.threads.create()
    state = client.runs.wait(thread["thread_id"], "assistant", input=_ask("Say hello."))
    assert state["messages"][-1]["content"]
    assert server.run(state["run_id"])["status"] == "succeeded"


def test_streaming_shows_fusion_progress_and_the_context_overrides_apply(
    server: Server, client: Any
) -> None:
    thread = client.threads.create()
    events: list[tuple[str, Any]] = []
    run_id = None
    for part in client.runs.stream(
        thread["thread_id"],
        "code_review",
        input=_ask("Review: def div(a, b): return a / b"),
        context={"user": "alice", "mode": "best-of"},
        stream_mode=["custom", "values"],
    ):
        if part.event == "metadata":
            run_id = part.data["run_id"]
        events.append((part.event, part.data))
    custom = [data for event, data in events if event == "custom"]
    kinds = [e["event"] for e in custom]
    assert kinds[0] == "skill"
    assert kinds.count("step") == 3 and "member" in kinds and "judge" in kinds
    assert {e["model"] for e in custom if e["event"] == "member"} == {"m1", "m2"}
    final = [data for event, data in events if event == "values"][-1]
    assert final["messages"][-1]["type"] == "ai"

    assert run_id is not None
    recorded = server.run(run_id)
    assert recorded["status"] == "succeeded"
    assert [s["mode"] for s in recorded["steps"]] == ["best-of"] * 3
    # The end user is stored only as its keyed hash, never as the id the client sent.
    expected = hmac.new(HASH_SECRET.encode(), b"\x00alice", hashlib.sha256).hexdigest()
    assert recorded["user"] == expected


def test_a_second_run_on_a_thread_is_its_own_run(server: Server, client: Any) -> None:
    thread = client.threads.create()
    first = client.runs.wait(thread["thread_id"], "assistant", input=_ask("First question."))
    second = client.runs.wait(thread["thread_id"], "assistant", input=_ask("Second question."))
    assert first["run_id"] != second["run_id"]
    for state in (first, second):
        recorded = server.run(state["run_id"])
        assert recorded["status"] == "succeeded" and len(recorded["steps"]) >= 1


def test_a_failing_run_is_recorded_failed(server: Server, client: Any) -> None:
    thread = client.threads.create()
    run = client.runs.create(
        thread["thread_id"], "assistant", input=_ask("Hi"), context={"profile": "broken"}
    )
    client.runs.join(thread["thread_id"], run["run_id"])
    assert client.runs.get(thread["thread_id"], run["run_id"])["status"] == "error"
    recorded = server.run(run["run_id"])
    assert recorded["status"] == "failed"
    assert "AllMembersFailedError" in (recorded["error"] or "")
    assert recorded["steps"][0]["status"] == "failed"
    assert recorded["steps"][0]["candidates"][0]["model"] == "down"


def test_a_run_past_its_deadline_is_stopped_and_recorded(server: Server, client: Any) -> None:
    # No Runner here: the graph's own steps keep the deadline the client (or profile) set.
    thread = client.threads.create()
    started = time.monotonic()
    run = client.runs.create(
        thread["thread_id"],
        "assistant",
        input=_ask("Hi"),
        context={"profile": "slow", "deadline_s": 0.5},
    )
    client.runs.join(thread["thread_id"], run["run_id"])
    assert time.monotonic() - started < 8.0  # the member would answer after 10 s
    assert client.runs.get(thread["thread_id"], run["run_id"])["status"] == "error"
    recorded = server.run(run["run_id"])
    assert recorded["status"] == "failed"
    assert (recorded["error"] or "").startswith("deadline_exceeded:")
    assert [s["status"] for s in recorded["steps"]] == ["failed"]


def test_a_capped_profile_is_estimated_priced_and_recorded(server: Server, client: Any) -> None:
    thread = client.threads.create()
    state = client.runs.wait(
        thread["thread_id"], "assistant", input=_ask("Hi"), context={"profile": "capped"}
    )
    recorded = server.run(state["run_id"])
    assert recorded["status"] == "succeeded", recorded["error"]
    assert recorded["cost_usd"] is not None and recorded["cost_usd"] > 0

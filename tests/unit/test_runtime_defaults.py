"""A graph invoked without EvoFuse's context (as LangGraph's own server does) builds it from the
configuration, and records its run exactly as the Runner would."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from langgraph.graph import END, START, StateGraph

from evofuse.errors import AllMembersFailedError, ConfigError, DeadlineExceededError, UserError
from evofuse.runtime import defaults
from evofuse.runtime.context import EvoContext
from evofuse.runtime.nodes import fuse_step, record, select_skill
from evofuse.runtime.state import AgentState
from evofuse.store import Store
from evofuse.store.run_queries import get_run, list_runs
from evofuse.testing import judge_reply
from tests.unit.conftest import SECRET, FakePool

HASH_SECRET = "defaults-test-secret"


def graph() -> Any:
    builder = StateGraph(AgentState, context_schema=EvoContext)
    builder.add_node("select_skill", select_skill)
    builder.add_node("answer", fuse_step("answer", "Answer briefly.", mode="best-of"))
    builder.add_node("record", record)
    builder.add_edge(START, "select_skill")
    builder.add_edge("select_skill", "answer")
    builder.add_edge("answer", "record")
    builder.add_edge("record", END)
    return builder.compile(name="mine")


@pytest.fixture
def configured(pool: FakePool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """EVOFUSE_CONFIG names a config whose pool is faked; yields the database file."""
    pool.model("m1", content="member one says")
    pool.model("m2", content="member two says")
    pool.model("down", status=503)
    pool.model("j", content=judge_reply(answer="fused"))
    pool.model("slow", content="too late", delay_s=5.0)
    config = {
        "model_list": [
            {
                "model_name": name,
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": f"http://{name}.test/v1",
                    "api_key": SECRET,
                },
            }
            for name in ("m1", "m2", "down", "j", "slow")
        ],
        "fusion": {
            "default_profile": "p",
            "profiles": {
                "p": {"models": ["m1", "m2"], "judge": "j", "grace_s": 0.5},
                "broken": {"models": ["down"], "mode": "single"},
                "bounded": {"models": ["slow"], "mode": "single", "deadline_s": 0.3},
                "unbounded": {"models": ["slow"], "mode": "single"},
            },
        },
        "skills": {"dir": str(tmp_path / "no-seed-skills")},
        "storage": {"database_url": f"sqlite:///{tmp_path / 'evofuse.db'}"},
    }
    path = tmp_path / "evofuse.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("EVOFUSE_CONFIG", str(path))
    monkeypatch.setenv("EVOFUSE_USER_HASH_SECRET", HASH_SECRET)
    defaults.reset()
    yield tmp_path / "evofuse.db"
    defaults.reset()


def recorded(database: Path) -> list[dict[str, Any]]:
    store = Store(f"sqlite:///{database}")
    try:
        return [get_run(store, row["run_id"]) for row in list_runs(store)]
    finally:
        store.close()


async def test_no_context_builds_one_from_the_config_and_records_the_run(
    configured: Path,
) -> None:
    out = await graph().ainvoke({"messages": [{"role": "user", "content": "hi there"}]})
    assert out["answer"] in {"member one says", "member two says"}
    [run] = recorded(configured)
    assert run["run_id"] == out["run_id"]
    assert run["status"] == "succeeded"
    assert run["graph"] == "custom"  # no host told us the graph's id
    assert run["user"] is None and run["tenant"] is None
    assert [(s["name"], s["mode"], s["status"]) for s in run["steps"]] == [
        ("answer", "best-of", "succeeded")
    ]
    assert {c["model"] for c in run["steps"][0]["candidates"]} == {"m1", "m2"}


async def test_client_fields_are_kept_and_the_user_is_hashed(configured: Path) -> None:
    # What LangGraph's server passes: the client's JSON, which it turns into an EvoContext.
    context = {"user": "bob", "mode": "merge", "tenant": "written-by-the-client"}
    out = await graph().ainvoke({"messages": [{"role": "user", "content": "hi"}]}, context=context)
    assert out["answer"] == "fused"  # merge, as the client asked, overriding the step's best-of
    [run] = recorded(configured)
    assert run["user"] == hmac.new(HASH_SECRET.encode(), b"\x00bob", hashlib.sha256).hexdigest()
    # Only an identity the host authenticated is a tenant, never a field the client wrote.
    assert run["tenant"] is None


async def test_a_failed_run_is_recorded_failed_by_the_graph_itself(configured: Path) -> None:
    with pytest.raises(AllMembersFailedError):
        await graph().ainvoke(
            {"messages": [{"role": "user", "content": "hi"}]}, context={"profile": "broken"}
        )
    [run] = recorded(configured)
    assert run["status"] == "failed"
    assert run["error"].startswith("AllMembersFailedError: Every model in the pool failed")
    assert run["steps"][0]["status"] == "failed"


@pytest.mark.parametrize(
    ("context", "seconds"),
    [({"profile": "bounded"}, 0.3), ({"profile": "unbounded", "deadline_s": 0.2}, 0.2)],
)
async def test_a_run_the_graph_records_itself_keeps_its_deadline(
    configured: Path, context: dict[str, Any], seconds: float
) -> None:
    # Under LangGraph's server no Runner times the run: its steps do, from the profile's
    # deadline_s or the client's, and the run is recorded as the Runner would record it.
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError) as caught:
        await graph().ainvoke({"messages": [{"role": "user", "content": "hi"}]}, context=context)
    assert time.monotonic() - started < 3.0  # the member would have answered after 5 s
    assert caught.value.deadline_s == seconds
    [run] = recorded(configured)
    assert run["status"] == "failed"
    assert run["error"].startswith("deadline_exceeded: The run did not finish within")
    assert run["steps"][0]["status"] == "failed"


async def test_no_context_and_no_config_says_where_the_config_is_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVOFUSE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    defaults.reset()
    with pytest.raises(ConfigError, match="Config file not found"):
        await graph().ainvoke({"messages": [{"role": "user", "content": "hi"}]})


async def test_a_malformed_client_context_is_refused_with_the_fields_it_may_set(
    configured: Path,
) -> None:
    with pytest.raises(UserError, match=r"Invalid run context: models: .*list") as caught:
        await graph().ainvoke(
            {"messages": [{"role": "user", "content": "hi"}]}, context={"models": 3}
        )
    assert "user, profile, mode, models" in (caught.value.hint or "")

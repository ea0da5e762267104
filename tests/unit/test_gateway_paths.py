"""Which LiteLLM path a model name takes: `litellm.acompletion` for one plain deployment, the
Router for everything that needs it (several deployments, retries, Router-only limits)."""

from __future__ import annotations

from typing import Any

import pytest

from evofuse.errors import LLMCallError
from evofuse.llm.gateway import Gateway, direct_params
from tests.unit.conftest import SECRET, FakePool

USER = [{"role": "user", "content": "What is 2 + 2?"}]


def deployment(name: str, host: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_base": f"http://{host}.test/v1",
            "api_key": SECRET,
            **params,
        },
    }


def test_only_plain_one_deployment_names_are_called_directly() -> None:
    model_list = [
        deployment("plain", "a"),
        deployment("balanced", "b1"),
        deployment("balanced", "b2"),
        deployment("limited", "c", rpm=10),
        {**deployment("described", "d"), "model_info": {"id": "d1"}},
    ]
    assert list(direct_params(model_list)) == ["plain"]
    assert direct_params(model_list)["plain"]["api_base"] == "http://a.test/v1"


async def test_a_one_deployment_pool_never_builds_the_router(
    pool: FakePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import litellm  # noqa: TID251 - the test watches LiteLLM's own Router class

    def no_router(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the Router was built for names that do not need it")

    monkeypatch.setattr(litellm, "Router", no_router)
    pool.model("m1", content="Four.")
    pool.model("m2", content="It is 4.")
    pool.model("j", content="4")
    result = await pool.engine({"mode": "merge"}).run(USER)
    assert [c.status for c in result.candidates] == ["ok", "ok"]
    assert result.content


async def test_several_deployments_of_one_name_are_balanced_by_the_router(
    pool: FakePool,
) -> None:
    first = pool.model("b1", content="from b1")
    second = pool.model("b2", content="from b2")
    gateway = Gateway([deployment("balanced", "b1"), deployment("balanced", "b2")])
    answers = {(await gateway.complete("balanced", USER, timeout_s=10)).content for _ in range(30)}
    assert answers == {"from b1", "from b2"}
    assert first.calls and second.calls


async def test_a_direct_call_resolves_environment_secrets(
    pool: FakePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVOFUSE_TEST_PROVIDER_KEY", "sk-from-the-environment-42")
    pool.model("e", content="ok")
    route = pool.router.routes[-1]
    gateway = Gateway([deployment("e", "e", api_key="os.environ/EVOFUSE_TEST_PROVIDER_KEY")])
    assert (await gateway.complete("e", USER, timeout_s=10)).content == "ok"
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer sk-from-the-environment-42"


async def test_a_failing_direct_call_is_not_retried(pool: FakePool) -> None:
    broken = pool.model("x", status=500, error_message="down")
    gateway = Gateway([deployment("x", "x")])
    with pytest.raises(LLMCallError, match="down"):
        await gateway.complete("x", USER, timeout_s=10)
    assert len(broken.calls) == 1  # no SDK retry with backoff behind the caller's back


async def test_with_retries_on_every_name_goes_through_the_router(pool: FakePool) -> None:
    flaky = pool.model("r", status=500, error_message="down")
    gateway = Gateway([deployment("r", "r")], num_retries=1)
    with pytest.raises(LLMCallError, match="down"):
        await gateway.complete("r", USER, timeout_s=10)
    assert len(flaky.calls) == 2  # the Router's one retry

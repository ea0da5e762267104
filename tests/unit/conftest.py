"""Unit tests: nothing behind the call. Models are faked at the HTTP boundary: respx hands each
fake host's requests to the scripted upstream of `evofuse.testing`, in-process (no socket)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from evofuse.config import Settings
from evofuse.config.loader import settings_from_mapping
from evofuse.fusion import FusionEngine
from evofuse.testing import ModelBehavior, UpstreamScript, create_app
from evofuse.testing.script import RequestLog

# Provider keys from the developer's shell must not turn a unit test into a paid call.
for _key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "GEMINI_API_KEY"):
    os.environ.pop(_key, None)

SECRET = "sk-unit-test-secret-123456"


class FakeModel:
    """One fake model host: the scripted upstream answers its requests (`calls`: their bodies)."""

    def __init__(
        self,
        content: str | Callable[[dict[str, Any]], str] = "an answer",
        delay_s: float = 0.0,
        status: int = 200,
        raw: str | None = None,
        error_message: str = "upstream failure",
    ) -> None:
        if raw is not None:
            behavior = ModelBehavior(kind="garbage", raw=raw)
        elif status != 200:
            behavior = ModelBehavior(kind="error", status=status, message=error_message)
        elif callable(content):
            behavior = ModelBehavior(respond=content)
        else:
            behavior = ModelBehavior(content=content)
        self.behavior = behavior.model_copy(update={"latency_ms": delay_s * 1000})
        self.log = RequestLog()
        app = create_app(UpstreamScript(default=self.behavior), self.log)
        self._transport = httpx.ASGITransport(app=app)

    @property
    def calls(self) -> list[dict[str, Any]]:
        return [record.body for record in self.log.entries]

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        body = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=body)


class FakePool:
    """Fake models m1..mN, judge `j` and fallback judge `fj`, each on its own fake host."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.router = router
        self.behaviours: dict[str, FakeModel] = {}

    def model(self, name: str, **kwargs: Any) -> FakeModel:
        """A fake model at http://NAME.test/v1 (see `FakeModel` for what it answers)."""
        fake = FakeModel(**kwargs)
        self.behaviours[name] = fake
        self.router.post(f"http://{name}.test/v1/chat/completions").mock(side_effect=fake)
        return fake

    def settings(
        self, profile: dict[str, Any] | None = None, priced: bool = True, **extra: Any
    ) -> Settings:
        model = "openai/gpt-4o-mini" if priced else "openai/unpriced-test-model"
        model_list = [
            {
                "model_name": name,
                "litellm_params": {
                    "model": model,
                    "api_base": f"http://{name}.test/v1",
                    "api_key": SECRET,
                },
            }
            for name in self.behaviours
        ]
        members = [n for n in self.behaviours if n not in ("j", "fj")]
        base = {"models": members, "judge": "j", "mode": "merge", "timeout_s": 30, "grace_s": 0.5}
        if "fj" in self.behaviours:
            base["fallback_judge"] = "fj"
        base.update(profile or {})
        raw = {
            "model_list": model_list,
            "fusion": {"default_profile": "p", "profiles": {"p": base}},
            **extra,
        }
        return settings_from_mapping(raw)

    def engine(self, profile: dict[str, Any] | None = None, priced: bool = True) -> FusionEngine:
        return FusionEngine(self.settings(profile, priced))


@pytest.fixture
def pool() -> Iterator[FakePool]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield FakePool(router)

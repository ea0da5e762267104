"""Unit tests: nothing behind the call. Models are faked at the HTTP boundary with respx."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import respx

from evofuse.config import Settings
from evofuse.config.loader import settings_from_mapping
from evofuse.fusion import FusionEngine
from tests.support.fake_openai import Behaviour

# Provider keys from the developer's shell must not turn a unit test into a paid call.
for _key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "GEMINI_API_KEY"):
    os.environ.pop(_key, None)

SECRET = "sk-unit-test-secret-123456"


class FakePool:
    """Fake models m1..mN, judge `j` and fallback judge `fj`, each on its own fake host."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.router = router
        self.behaviours: dict[str, Behaviour] = {}

    def model(self, name: str, behaviour: Behaviour | None = None, **kwargs: Any) -> Behaviour:
        behaviour = behaviour or Behaviour(**kwargs)
        self.behaviours[name] = behaviour
        self.router.post(f"http://{name}.test/v1/chat/completions").mock(side_effect=behaviour)
        return behaviour

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

"""Real providers, real keys: opt-in. Skipped unless the key is in the environment.

OPENROUTER_API_KEY=sk-or-… .venv/bin/python -m pytest tests/e2e -m e2e
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evofuse.config import load_settings
from evofuse.fusion import FusionEngine

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.mark.skipif(not os.environ.get("OPENROUTER_API_KEY"), reason="OPENROUTER_API_KEY not set")
@pytest.mark.parametrize("mode", ["best-of", "merge", "debate"])
async def test_openrouter_pool_fuses_for_real(mode: str) -> None:
    settings = load_settings(REPO / "examples" / "configs" / "openrouter.yaml")
    engine = FusionEngine(settings)
    result = await engine.run(
        [{"role": "user", "content": "What is the capital of Australia? One word."}],
        mode=mode,
        max_tokens=64,
    )
    assert "canberra" in result.content.lower()
    assert sum(c.status == "ok" for c in result.candidates) >= 2
    assert result.judge.status == "ok", result.degraded_reasons
    assert result.cost_usd is not None and result.cost_usd > 0

"""The scripted upstream's `truncated` kind (a reply that breaks off), and what fusion makes of a
member or judge that truncates: the run still answers, the failure is recorded."""

from __future__ import annotations

import json

import httpx
import pytest

from evofuse.options import FusionOptions
from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, UpstreamServer

BODY = {"model": "cut", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def server() -> object:
    script = UpstreamScript(models={"cut": ModelBehavior(kind="truncated", content="x" * 64)})
    with UpstreamServer(script) as upstream:
        yield upstream


def test_a_truncated_reply_is_half_a_body_or_a_stream_without_its_end(
    server: UpstreamServer,
) -> None:
    plain = httpx.post(f"{server.base_url}/chat/completions", json=BODY, timeout=10)
    assert plain.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(plain.content)
    stream = httpx.post(
        f"{server.base_url}/chat/completions", json={**BODY, "stream": True}, timeout=10
    )
    assert stream.status_code == 200
    assert "[DONE]" not in stream.text and '"finish_reason": "stop"' not in stream.text
    assert stream.text.count("data: ") >= 2  # it did start


async def test_fusion_survives_a_truncating_member_and_judge(tmp_path: object) -> None:
    from evofuse.config.loader import settings_from_mapping
    from evofuse.fusion import FusionEngine
    from evofuse.testing import model_entry

    script = UpstreamScript(
        models={
            "ok": ModelBehavior(content="Paris."),
            "ok2": ModelBehavior(content="It is Paris."),
            "cut": ModelBehavior(kind="truncated", content="Paris is the capital " * 8),
            "j": JUDGE,
            "jcut": ModelBehavior(kind="truncated", content="{" * 40),
        }
    )
    with UpstreamServer(script) as upstream:
        entries = [model_entry(m, upstream.base_url) for m in ("ok", "ok2", "cut", "j", "jcut")]
        settings = settings_from_mapping(
            {
                "model_list": entries,
                "fusion": {
                    "default_profile": "member",
                    "profiles": {
                        "member": {"models": ["ok", "cut"], "judge": "j", "timeout_s": 10},
                        "judge": {
                            "models": ["ok", "ok2"],
                            "judge": "jcut",
                            "fallback_judge": "j",
                            "timeout_s": 10,
                        },
                    },
                },
            }
        )
        engine = FusionEngine(settings)
        messages = [{"role": "user", "content": "Capital of France?"}]
        member = await engine.run(messages, FusionOptions(profile="member"))
        statuses = {c.model: c.status for c in member.candidates}
        assert statuses["ok"] == "ok" and statuses["cut"] != "ok"
        assert member.content
        judged = await engine.run(messages, FusionOptions(profile="judge"))
        assert judged.content and judged.degraded

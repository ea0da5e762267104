"""The API in-process (httpx's ASGI transport) over a scripted upstream on 127.0.0.1.

Models: members `m1`, `m2` and judge `j` of profile `p` (merge), priced per token so costs and
budgets are real numbers. Keys are created in the API's own store.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from evofuse.api import create_app
from evofuse.config.loader import settings_from_mapping
from evofuse.services import Services
from evofuse.store.keys import create_key
from evofuse.testing import JUDGE, ModelBehavior, UpstreamScript, UpstreamServer, model_entry

REPO = Path(__file__).resolve().parents[3]
PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}


def api_settings(
    base_url: str,
    tmp_path: Path,
    *,
    database_url: str | None = None,
    auth: bool = True,
    profile: dict[str, Any] | None = None,
) -> Any:
    models = ("m1", "m2", "m3", "j")
    return settings_from_mapping(
        {
            "model_list": [model_entry(name, base_url, **PRICE) for name in models],
            "fusion": {
                "default_profile": "p",
                "profiles": {
                    "p": {
                        "models": ["m1", "m2"],
                        "judge": "j",
                        "mode": "merge",
                        "timeout_s": 10,
                        "grace_s": 0.5,
                        **(profile or {}),
                    },
                    "solo": {"models": ["m3"], "mode": "single"},
                },
            },
            "storage": {
                "database_url": database_url or f"sqlite:///{tmp_path}/evofuse.db",
                "chroma": str(tmp_path / "chroma"),
            },
            "skills": {"dir": str(tmp_path / "no-seed-skills")},  # tests publish their own
            "graphs": str(REPO / "langgraph.json"),
            "auth": {"enabled": auth},
        }
    )


@dataclass
class Api:
    """A client of the in-process app, with helpers to make keys and read SSE streams."""

    client: httpx.AsyncClient
    services: Services
    upstream: UpstreamServer
    keys: dict[str, str] = field(default_factory=dict)

    def key(self, tenant: str, **limits: Any) -> str:
        secret = create_key(self.services.store, tenant=tenant, **limits).secret
        self.keys[tenant] = secret
        return secret

    def auth(self, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[tenant]}"}

    async def chat(self, tenant: str | None = "acme", **body: Any) -> httpx.Response:
        body.setdefault("model", "fusion/p")
        body.setdefault("messages", [{"role": "user", "content": "What is 2 + 2?"}])
        headers = self.auth(tenant) if tenant else {}
        return await self.client.post("/v1/chat/completions", json=body, headers=headers)


def sse_payloads(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order (comments and blank lines dropped)."""
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def sse_chunks(text: str) -> list[dict[str, Any]]:
    return [json.loads(p) for p in sse_payloads(text) if p != "[DONE]"]


@pytest.fixture(autouse=True)
def user_hash_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed server secret: no key file is written into the working tree."""
    monkeypatch.setenv("EVOFUSE_USER_HASH_SECRET", "api-test-secret")


@pytest.fixture
def script() -> UpstreamScript:
    """Members answer differently so the judge's choice shows; tests may edit it first."""
    return UpstreamScript(
        models={
            "m1": ModelBehavior(content="Four, from the first member."),
            "m2": ModelBehavior(content="It is 4."),
            "m3": ModelBehavior(content="Solo says four."),
            "j": JUDGE,
        }
    )


@pytest.fixture
def upstream(script: UpstreamScript) -> Iterator[UpstreamServer]:
    with UpstreamServer(script) as server:
        yield server


@pytest.fixture
def app_options() -> dict[str, Any]:
    return {}


@pytest.fixture
async def api(
    upstream: UpstreamServer, tmp_path: Path, app_options: dict[str, Any]
) -> AsyncIterator[Api]:
    services = Services.from_settings(api_settings(upstream.base_url, tmp_path, **app_options))
    app = create_app(services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://evofuse.test") as client:
        api = Api(client, services, upstream)
        api.key("acme")
        yield api
    services.close()

"""A page on another site cannot change state through the JSON API (auth off: nothing else would
stop it); API clients, same-origin pages and origins in api.cors_origins are unaffected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from evofuse.api import create_app
from evofuse.services import Services
from evofuse.skills import Bundle, BundleFile
from evofuse.testing import UpstreamServer
from tests.unit.api.conftest import api_settings

EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


def skill(body: str) -> Bundle:
    text = f"---\nname: sql-review\ndescription: Review SQL queries.\n---\n{body}\n"
    return Bundle.of([BundleFile("SKILL.md", text.encode())])


OpenApi = tuple[httpx.AsyncClient, Services]


@pytest.fixture
async def open_api(upstream: UpstreamServer, tmp_path: Path) -> AsyncIterator[OpenApi]:
    settings = api_settings(upstream.base_url, tmp_path, auth=False)
    api = settings.api.model_copy(update={"cors_origins": ["https://app.example"]})
    services = Services.from_settings(settings.model_copy(update={"api": api}))
    services.library.publish(skill("One."))
    services.library.publish(skill("Two."))
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://evofuse.test") as client:
        yield client, services
    services.close()


async def test_a_cross_site_post_is_refused_and_changes_nothing(
    open_api: OpenApi,
) -> None:
    client, services = open_api
    for headers in (EVIL, {**EVIL, "Sec-Fetch-Site": "same-site"}):
        refused = await client.post(
            "/v1/skills/sql-review/rollback",
            content=b"to=1",
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "cross_site_request"
    assert services.library.load("sql-review").info.version == 2
    # Reading stays possible (the browser's same-origin policy keeps the answer from the page).
    assert (await client.get("/v1/skills", headers=EVIL)).status_code == 200


async def test_api_clients_same_origin_pages_and_allowed_origins_pass(
    open_api: OpenApi,
) -> None:
    client, services = open_api
    allowed = {"Origin": "https://app.example", "Sec-Fetch-Site": "cross-site"}
    same_origin = {"Origin": "http://evofuse.test", "Sec-Fetch-Site": "same-origin"}
    for headers, to in (({}, 1), (same_origin, 2), (allowed, 1)):
        response = await client.post(
            "/v1/skills/sql-review/rollback", json={"to": to}, headers=headers
        )
        assert response.status_code == 200, (headers, response.text)
        assert services.library.load("sql-review").info.version == to

"""The dashboard in-process (no socket): auth disabled, the CSRF seed cookie, the results
folder, security headers and the Secure cookie over HTTPS. The real server and browser tests
are in tests/integration/ui."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evofuse.api import create_app
from evofuse.config.models import UiSettings
from evofuse.services import Services
from evofuse.skills import Bundle, BundleFile, Origin
from evofuse.store.keys import create_key, revoke_key
from tests.unit.api.conftest import api_settings

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
SKILL = """---
name: tidy-notes
description: Turn rough meeting notes into a tidy summary with owners and dates.
---
# Tidy notes

{line}
"""


def make_services(folder: Path, *, auth: bool) -> Services:
    settings = api_settings("http://127.0.0.1:9/v1", folder, auth=auth)
    results = folder / "results"
    results.mkdir()
    return Services.from_settings(
        settings.model_copy(update={"ui": UiSettings(results_dir=results)})
    )


@pytest.fixture(scope="module")
def open_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EVOFUSE_USER_HASH_SECRET", "ui-unit-test")
        services = make_services(tmp_path_factory.mktemp("open"), auth=False)
        for n, line in enumerate(("List owners.", "List owners and dates.")):
            text = SKILL.format(line=line).encode()
            origin = Origin.SEED if n == 0 else Origin.IMPORT
            services.library.publish(Bundle.of([BundleFile("SKILL.md", text)]), origin=origin)
        yield services
        services.close()


@pytest.fixture
def browser(open_services: Services) -> TestClient:
    """A fresh client: no cookies yet (auth.enabled is false in this deployment)."""
    return TestClient(create_app(open_services), follow_redirects=False)


def active(services: Services) -> int:
    return next(v.version for v in services.library.versions("tidy-notes") if v.status == "active")


def test_with_auth_disabled_pages_are_open(browser: TestClient) -> None:
    page = browser.get("/ui")
    assert page.status_code == 200 and "auth disabled" in page.text
    assert 'href="/ui/evolution"' in page.text  # no key: everything, as the API allows
    assert browser.get("/ui/login?next=/ui/runs").headers["location"] == "/ui/runs"
    for path in ("/ui/skills/tidy-notes", "/ui/runs", "/ui/evolution", "/ui/quality"):
        assert browser.get(path).status_code == 200, path


def test_forms_still_need_a_csrf_token_bound_to_this_browser(
    browser: TestClient, open_services: Services
) -> None:
    before = active(open_services)
    confirm = browser.get("/ui/skills/tidy-notes/rollback?to=1")
    assert confirm.status_code == 200
    seed = confirm.cookies.get("evofuse_csrf")
    assert seed, "the first page sets the CSRF seed cookie"
    set_cookie = confirm.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    token = CSRF.search(confirm.text)
    assert token
    refused = browser.post("/ui/skills/tidy-notes/rollback", data={"to": "1"})
    assert refused.status_code == 403 and active(open_services) == before
    stranger = TestClient(browser.app, cookies={"evofuse_csrf": "another browser's seed"})
    stolen = stranger.post(
        "/ui/skills/tidy-notes/rollback", data={"to": "1", "csrf_token": token[1]}
    )
    assert stolen.status_code == 403 and active(open_services) == before
    done = browser.post("/ui/skills/tidy-notes/rollback", data={"to": "1", "csrf_token": token[1]})
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/skills/tidy-notes?rolled_back=1"
    assert active(open_services) == 1
    assert "v1 is active again" in browser.get(done.headers["location"]).text


def test_pages_send_security_headers(browser: TestClient) -> None:
    headers = browser.get("/ui").headers
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # no script at all
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_quality_says_no_results_yet_and_serves_only_listed_files(
    browser: TestClient, open_services: Services
) -> None:
    assert "No results yet" in browser.get("/ui/quality").text
    folder = open_services.settings.ui.results_dir
    (folder / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    (folder.parent / "secret.json").write_text("{}")
    page = browser.get("/ui/quality").text
    assert "No results yet" not in page and 'src="/ui/quality/files/figure.png"' in page
    assert browser.get("/ui/quality/files/figure.png").headers["content-type"] == "image/png"
    for name in ("secret.json", "..%2Fsecret.json", "evofuse.db"):
        assert browser.get(f"/ui/quality/files/{name}").status_code == 404, name


def test_unknown_pages_and_bad_input_answer_in_html(browser: TestClient) -> None:
    missing = browser.get("/ui/skills/no-such-skill")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "No skill named" in missing.text
    assert browser.get("/ui/evolution/999").status_code == 404
    assert browser.get("/ui/skills/tidy-notes/rollback?to=0").status_code == 400
    # The API's own routes keep OpenAI's JSON error shape.
    assert browser.get("/v1/skills/no-such-skill").json()["error"]["code"] == "skill_not_found"


def test_the_key_cookie_is_secure_over_https(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVOFUSE_USER_HASH_SECRET", "ui-unit-test")
    services = make_services(tmp_path, auth=True)
    try:
        key = create_key(services.store, tenant="acme").secret
        client = TestClient(create_app(services), base_url="https://evofuse.test")
        token = CSRF.search(client.get("/ui/login").text)
        assert token
        done = client.post(
            "/ui/login", data={"key": key, "csrf_token": token[1]}, follow_redirects=False
        )
        cookie = next(
            c for c in done.headers.get_list("set-cookie") if c.startswith("evofuse_key=")
        )
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()
        assert client.get("/ui/login?next=//evil.example/x").status_code == 200
        again = client.post(
            "/ui/login",
            data={
                "key": key,
                "csrf_token": CSRF.search(client.get("/ui/login").text)[1],
                "next": "//evil.example/x",
            },
            follow_redirects=False,
        )
        assert again.headers["location"] == "/ui"  # never off to another site
    finally:
        services.close()


def test_revoking_the_key_ends_the_dashboard_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVOFUSE_USER_HASH_SECRET", "ui-unit-test")
    services = make_services(tmp_path, auth=True)
    try:
        key = create_key(services.store, tenant="acme")
        client = TestClient(create_app(services), follow_redirects=False)
        token = CSRF.search(client.get("/ui/login").text)
        assert token
        client.post("/ui/login", data={"key": key.secret, "csrf_token": token[1]})
        assert client.get("/ui/runs").status_code == 200
        revoke_key(services.store, key.row.id)
        gone = client.get("/ui/runs")
        assert gone.status_code == 303
        assert gone.headers["location"] == "/ui/login?next=/ui/runs"
    finally:
        services.close()

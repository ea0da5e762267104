"""The dashboard over HTTP against a real `evofuse serve`: login and its cookie, every page,
tenant isolation, admin-only actions, CSRF, escaping. (The browser tests beside this file drive
the same server in chromium.)"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.ui.conftest import HOSTILE_COMMENT, Deployment

# A real server; the first test also waits for the seeding, an evolution cycle included.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def logged_in(deployment: Deployment, role: str) -> httpx.Client:
    """A browser-like client that logged in through the form."""
    client = httpx.Client(base_url=deployment.url, timeout=60)
    form = client.get("/ui/login")
    token = CSRF.search(form.text)
    assert token, form.text
    done = client.post(
        "/ui/login", data={"key": deployment.keys[role], "next": "/ui", "csrf_token": token[1]}
    )
    assert done.status_code == 303 and done.headers["location"] == "/ui", done.text
    return client


@pytest.fixture(scope="module")
def clients(deployment: Deployment) -> Iterator[dict[str, httpx.Client]]:
    made = {role: logged_in(deployment, role) for role in ("admin", "viewer", "globex")}
    yield made
    for client in made.values():
        client.close()


def token_of(client: httpx.Client, path: str = "/ui") -> str:
    found = CSRF.search(client.get(path).text)
    assert found, f"no CSRF token on {path}"
    return found[1]


def test_login_cookie_is_httponly_strict_and_scoped_to_the_dashboard(
    deployment: Deployment,
) -> None:
    client = httpx.Client(base_url=deployment.url, timeout=60)
    token = CSRF.search(client.get("/ui/login").text)
    assert token
    done = client.post("/ui/login", data={"key": deployment.keys["viewer"], "csrf_token": token[1]})
    cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith("evofuse_key="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite"} <= flags
    assert "samesite=strict" in cookie.lower() and "path=/ui" in cookie.lower()
    assert "secure" not in flags  # plain HTTP here; Secure is set when served over HTTPS


def test_a_wrong_key_is_refused_on_the_login_page(deployment: Deployment) -> None:
    client = httpx.Client(base_url=deployment.url, timeout=60)
    token = CSRF.search(client.get("/ui/login").text)
    assert token
    done = client.post("/ui/login", data={"key": "sk-evofuse-wrong", "csrf_token": token[1]})
    assert done.status_code == 401
    assert "Invalid or revoked API key" in done.text
    assert "evofuse_key=" not in done.headers.get("set-cookie", "")


def test_pages_need_a_login(deployment: Deployment) -> None:
    response = httpx.get(deployment.url + "/ui/runs?status=failed", timeout=60)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=/ui/runs%3Fstatus%3Dfailed"


def test_every_page_renders_for_an_admin(
    deployment: Deployment, clients: dict[str, httpx.Client]
) -> None:
    admin = clients["admin"]
    for path in (
        "/ui",
        "/ui/skills/sql-review",
        "/ui/skills/acme-playbook",
        "/ui/runs",
        f"/ui/runs/{deployment.acme_runs[0]}",
        "/ui/evolution",
        f"/ui/evolution/{deployment.cycle_id}",
        "/ui/quality",
        "/ui?q=Why+is+this+SQL+query+slow",
    ):
        response = admin.get(path)
        assert response.status_code == 200, (path, response.text[-2000:])
        assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_tenant_b_never_sees_tenant_a_skill_or_run(
    deployment: Deployment, clients: dict[str, httpx.Client]
) -> None:
    globex, admin = clients["globex"], clients["admin"]
    assert "acme-playbook" in admin.get("/ui").text
    assert "acme-playbook" not in globex.get("/ui").text
    assert globex.get("/ui/skills/acme-playbook").status_code == 404
    run_id = deployment.acme_runs[0]
    assert run_id in admin.get("/ui/runs").text
    assert run_id not in globex.get("/ui/runs").text
    assert run_id not in globex.get("/ui/runs?graph=assistant&skill=sql-review").text
    assert globex.get(f"/ui/runs/{run_id}").status_code == 404
    # The Selector's search box ranks only what the tenant may see.
    assert "acme-playbook" not in globex.get("/ui?q=acme+billing+tables+review").text


def test_evolution_pages_are_for_operator_keys_only(
    deployment: Deployment, clients: dict[str, httpx.Client]
) -> None:
    viewer = clients["viewer"]
    assert 'href="/ui/evolution"' not in viewer.get("/ui").text
    assert 'href="/ui/evolution"' in clients["admin"].get("/ui").text
    assert viewer.get("/ui/evolution").status_code == 403
    assert viewer.get(f"/ui/evolution/{deployment.cycle_id}").status_code == 403


def test_the_cycle_page_shows_gate_checks_replay_and_the_diff(
    deployment: Deployment, clients: dict[str, httpx.Client]
) -> None:
    page = clients["admin"].get(f"/ui/evolution/{deployment.cycle_id}").text
    assert 'data-status="promoted"' in page
    assert "gate check" in page and "replay" in page and "Replay on" in page
    assert '<span class="add">+Always state the assumed database' in page


def test_non_operator_rollback_of_a_global_skill_is_hidden_and_refused(
    deployment: Deployment, clients: dict[str, httpx.Client]
) -> None:
    viewer = clients["viewer"]
    before = deployment.active_version()
    assert "button rollback" not in viewer.get("/ui/skills/sql-review").text
    assert "button rollback" in clients["admin"].get("/ui/skills/sql-review").text
    assert viewer.get("/ui/skills/sql-review/rollback?to=1").status_code == 403
    forged = viewer.post(
        "/ui/skills/sql-review/rollback", data={"to": "1", "csrf_token": token_of(viewer)}
    )
    assert forged.status_code == 403
    assert "Only an operator key may roll back sql-review" in forged.text
    assert deployment.active_version() == before


@pytest.mark.parametrize("token", [None, "0" * 64, "from-another-session"])
def test_a_state_changing_post_needs_this_sessions_csrf_token(
    deployment: Deployment, clients: dict[str, httpx.Client], token: str | None
) -> None:
    admin = clients["admin"]
    before = deployment.active_version()
    data = {"to": "1"}
    if token == "from-another-session":
        token = token_of(clients["viewer"])  # a valid token, of another key's session
    if token is not None:
        data["csrf_token"] = token
    response = admin.post("/ui/skills/sql-review/rollback", data=data)
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert deployment.active_version() == before
    assert admin.post("/ui/logout", data={}).status_code == 403  # logout is a POST too


def test_user_text_is_escaped(deployment: Deployment, clients: dict[str, httpx.Client]) -> None:
    page = clients["admin"].get(f"/ui/runs/{deployment.acme_runs[0]}").text
    assert HOSTILE_COMMENT not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


def test_run_filters(deployment: Deployment, clients: dict[str, httpx.Client]) -> None:
    admin = clients["admin"]
    run_id = deployment.acme_runs[0]
    assert run_id in admin.get("/ui/runs?status=succeeded&skill=sql-review").text
    assert run_id not in admin.get("/ui/runs?status=failed").text
    assert run_id not in admin.get("/ui/runs?since=2000-01-01&until=2000-01-02").text
    bad = admin.get("/ui/runs?since=yesterday")
    assert bad.status_code == 400 and "use YYYY-MM-DD" in bad.text
    assert admin.get("/ui/runs?status=exploded").status_code == 400


def test_docs_pages_load_nothing_from_another_host(deployment: Deployment) -> None:
    for path in ("/docs", "/redoc"):
        page = httpx.get(deployment.url + path, timeout=60).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert sources and all(s.startswith("/") for s in sources), sources
        for source in sources:
            if source.startswith("/static/"):
                assert httpx.get(deployment.url + source, timeout=60).status_code == 200


def test_logout_forgets_the_key(deployment: Deployment) -> None:
    client = logged_in(deployment, "viewer")
    done = client.post("/ui/logout", data={"csrf_token": token_of(client)})
    assert done.status_code == 303
    assert client.get("/ui").status_code == 303  # back to the login form

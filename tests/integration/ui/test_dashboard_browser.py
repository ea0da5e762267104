"""The dashboard in a real browser: Debian's chromium driven by Playwright, against the real
`evofuse serve` of conftest.py.

Under CI (`CI=true`) a missing browser is a failure (`make test` installs chromium there);
elsewhere these tests skip and say how to get it. Playwright's own browser builds are never
used. Screenshots go to a temporary folder, and also to $EVOFUSE_UI_SCREENSHOTS when it is set
(how the README's screenshots were made).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

from tests.integration.evolution.conftest import FIX
from tests.integration.ui.conftest import GLOBEX_HISTORY, V1_LINE, V2_LINE, Deployment

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

# A real server; the first test also waits for the seeding, an evolution cycle included.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
# Debian's package; EVOFUSE_CHROMIUM names another build of chromium (never Playwright's own).
CHROMIUM = Path(os.environ.get("EVOFUSE_CHROMIUM", "/usr/bin/chromium"))
INSTALL_HINT = "install it with `apt-get install chromium` (`make test` does so under CI=true)"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"The dashboard's browser tests need chromium under CI: {reason}")
    pytest.skip(f"No browser for the dashboard's tests: {reason}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing; {INSTALL_HINT}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Where screenshots go: a temporary folder, plus $EVOFUSE_UI_SCREENSHOTS if set."""
    folders = [tmp_path_factory.mktemp("screenshots")]
    if extra := os.environ.get("EVOFUSE_UI_SCREENSHOTS"):
        folders.append(Path(extra))
    return folders


def screenshot(page: Page, shots: list[Path], name: str) -> None:
    for folder in shots:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        assert (folder / f"{name}.png").stat().st_size > 10_000


def session(browser: Browser, deployment: Deployment, role: str) -> BrowserContext:
    """A browser context logged in through the login form with `role`'s key."""
    context = browser.new_context(base_url=deployment.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/ui")  # not logged in: sent to the form
    assert urlparse(page.url).path == "/ui/login"
    page.fill("#key", deployment.keys[role])
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{deployment.url}/ui")
    page.close()
    return context


@pytest.fixture(scope="module")
def contexts(browser: Browser, deployment: Deployment) -> Iterator[dict[str, BrowserContext]]:
    made = {role: session(browser, deployment, role) for role in ("admin", "viewer", "globex")}
    yield made
    for context in made.values():
        context.close()


def open_page(context: BrowserContext, path: str, status: int = 200) -> Page:
    page = context.new_page()
    response = page.goto(path)
    assert response is not None and response.status == status, (path, page.content()[-1500:])
    return page


def test_every_page_renders(
    deployment: Deployment, contexts: dict[str, BrowserContext], shots: list[Path]
) -> None:
    pages = {
        "dashboard-skills": "/ui?q=Will+this+SQL+migration+lock+the+orders+table%3F",
        "dashboard-skill": "/ui/skills/sql-review?old=2&new=3",
        "dashboard-runs": "/ui/runs",
        "dashboard-run": f"/ui/runs/{deployment.acme_runs[0]}",
        "dashboard-evolution": "/ui/evolution",
        "dashboard-cycle": f"/ui/evolution/{deployment.cycle_id}",
        "dashboard-quality": "/ui/quality",
    }
    for name, path in pages.items():
        page = open_page(contexts["admin"], path)
        assert page.locator("h1").first.is_visible()
        assert page.locator("nav a[href='/ui/evolution']").count() == 1  # admin: shown
        if "?q=" in path:  # the Selector's answer, with the candidates it weighed
            assert page.locator("#search-results tbody tr").count() >= 1
        screenshot(page, shots, name)
        page.close()
    run = open_page(contexts["admin"], f"/ui/runs/{deployment.acme_runs[0]}")
    assert run.locator(".candidate").count() >= 2  # the members side by side
    assert run.locator(".verdict").count() >= 1
    assert run.locator("#feedback tbody tr").count() == 1
    run.close()


def test_success_plot_has_a_point_per_version_and_day(
    contexts: dict[str, BrowserContext], shots: list[Path]
) -> None:
    page = open_page(contexts["globex"], "/ui/skills/sql-review")
    plot = page.locator("#success-plot")
    box = plot.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    assert plot.locator("circle.point").count() == len(GLOBEX_HISTORY)
    versions = {version for version, _, _ in GLOBEX_HISTORY}
    assert plot.locator("g.series").count() == len(versions)
    for version in versions:
        days = sum(1 for v, _, _ in GLOBEX_HISTORY if v == version)
        assert plot.locator(f"g.series[data-version='{version}'] circle").count() == days
        assert plot.locator(f"g.series[data-version='{version}'] polyline").count() == (days > 1)
    screenshot(page, shots, "dashboard-skill-plot")
    page.close()


def test_a_diff_shows_the_changed_lines(contexts: dict[str, BrowserContext]) -> None:
    page = open_page(contexts["admin"], "/ui/skills/sql-review?old=1&new=2")
    assert page.locator("#diff .del").filter(has_text=V1_LINE).count() == 1
    assert page.locator("#diff .add").filter(has_text=V2_LINE).count() == 1
    page.select_option("select[name=old]", "2")
    page.select_option("select[name=new]", "3")
    page.click("form.diff-pick button")
    page.wait_for_url(re.compile(r"old=2&new=3"))
    assert page.locator("#diff .add").filter(has_text=FIX).count() == 1
    assert page.locator("#diff .del").count() == 0  # evolution added a line, removed none
    page.close()


def test_tenant_b_never_sees_tenant_a(
    deployment: Deployment, contexts: dict[str, BrowserContext]
) -> None:
    globex = contexts["globex"]
    skills = open_page(globex, "/ui")
    assert skills.locator("#skills a", has_text="sql-review").count() == 1
    assert skills.locator("#skills", has_text="acme-playbook").count() == 0
    runs = open_page(globex, "/ui/runs")
    assert runs.locator(f"tr[data-run='{deployment.acme_runs[0]}']").count() == 0
    open_page(globex, "/ui/skills/acme-playbook", status=404)
    missing = open_page(globex, f"/ui/runs/{deployment.acme_runs[0]}", status=404)
    assert "No run" in missing.locator("#error-message").inner_text()


def token(page: Page) -> str:
    value = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert value
    return value


def test_rollback_is_hidden_and_refused_for_a_non_admin_key(
    deployment: Deployment, contexts: dict[str, BrowserContext]
) -> None:
    viewer = contexts["viewer"]
    page = open_page(viewer, "/ui/skills/sql-review")
    assert page.locator("a.rollback").count() == 0
    assert page.locator("nav a[href='/ui/evolution']").count() == 0
    before = deployment.active_version()
    forged = page.request.post(
        "/ui/skills/sql-review/rollback", form={"to": "1", "csrf_token": token(page)}
    )
    assert forged.status == 403
    assert deployment.active_version() == before


def test_a_post_without_the_csrf_token_is_refused(
    deployment: Deployment, contexts: dict[str, BrowserContext]
) -> None:
    page = open_page(contexts["admin"], "/ui/skills/sql-review")
    before = deployment.active_version()
    refused = page.request.post("/ui/skills/sql-review/rollback", form={"to": "1"})
    assert refused.status == 403 and "CSRF" in refused.text()
    assert deployment.active_version() == before


def test_api_docs_render_with_no_external_request(browser: Browser, deployment: Deployment) -> None:
    context = browser.new_context(base_url=deployment.url)
    blocked: list[str] = []

    def only_this_server(route: Any) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    docs = open_page(context, "/docs")
    docs.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "EvoFuse" in docs.locator(".swagger-ui .info .title").inner_text()
    docs.wait_for_selector(".opblock", timeout=30_000)
    redoc = open_page(context, "/redoc")
    redoc.wait_for_selector("h1:has-text('EvoFuse')", timeout=30_000)
    context.close()
    assert blocked == []


def test_rollback_works_end_to_end_for_an_admin(
    deployment: Deployment, contexts: dict[str, BrowserContext], shots: list[Path]
) -> None:
    page = open_page(contexts["admin"], "/ui/skills/sql-review")
    current = deployment.active_version()
    target = 1 if current != 1 else 2
    page.click(f"a.rollback[href$='to={target}']")
    assert page.locator("#confirm-text").is_visible()  # the confirmation step
    assert deployment.active_version() == current  # nothing happened yet
    screenshot(page, shots, "dashboard-rollback-confirm")
    page.click("#confirm-rollback")
    page.wait_for_url(re.compile(r"/ui/skills/sql-review\?rolled_back="))
    assert f"v{target} is active again" in page.locator("#notice").inner_text()
    assert page.locator("#active-version").inner_text() == f"v{target}"
    assert deployment.active_version() == target
    audit = deployment.api("admin", "GET", "/v1/audit", params={"action": "skill.rollback"})
    assert audit.status_code == 200, audit.text
    assert any(e["target"] == f"sql-review v{target}" for e in audit.json()["data"])

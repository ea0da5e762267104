"""/ui (the skill list and the Selector's search) and /ui/skills/{name} (one skill in depth),
with the rollback's confirmation and its POST."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from evofuse.api.auth import Principal
from evofuse.api.deps import StateDep
from evofuse.api.routes.skills import may_roll_back, rollback
from evofuse.api.state import ApiState
from evofuse.skills.models import Context, SkillInfo
from evofuse.skills.selector import LibrarySkillChooser, Selection
from evofuse.store import Scope, utcnow
from evofuse.store.evolution import open_canaries_by_skill
from evofuse.store.outcomes import daily_success, success_per_skill
from evofuse.store.run_queries import runs_per_skill
from evofuse.ui.plot import success_plot
from evofuse.ui.render import page
from evofuse.ui.session import CSRF_FIELD, ViewerDep, check_csrf
from evofuse.ui.skill_view import canary_views, lineage, version_diff

router = APIRouter(include_in_schema=False)
RECENT = timedelta(days=7)
SearchQuery = Annotated[str | None, Query(max_length=2000)]
VersionQuery = Annotated[int | None, Query(ge=1)]


def _context(principal: Principal) -> Context:
    # The dashboard shows the tenant's view; a user's private skills need the API's ?user=.
    return Context(principal.tenant, None)


@router.get("/ui", response_class=HTMLResponse)
def skills(request: Request, state: StateDep, viewer: ViewerDep, q: SearchQuery = None) -> Response:
    since = utcnow() - RECENT
    listed = state.services.library.list_skills(_context(viewer))
    runs = runs_per_skill(state.store, tenant=viewer.tenant, since=since)
    success = success_per_skill(state.store, tenant=viewer.tenant, since=since)
    canaries = open_canaries_by_skill(state.store)

    def key(info: SkillInfo) -> tuple[str, str, str]:
        return info.name, info.scope, info.tenant

    rows = [
        {
            "info": info,
            "runs": runs.get(key(info), 0),
            "outcomes": success.get(key(info), (0, 0.0))[0],
            "success": success[key(info)][1] if key(info) in success else None,
            "canary": canaries.get(key(info)),
        }
        for info in listed
    ]
    found = _search(state, viewer, q.strip()) if q and q.strip() else None
    return page(request, state, "skills.html", viewer, rows=rows, q=q or "", found=found)


def _search(state: ApiState, viewer: Principal, text: str) -> Selection:
    chooser = state.services.selector
    assert isinstance(chooser, LibrarySkillChooser)
    return chooser.rank(text, tenant=viewer.tenant)


@router.get("/ui/skills/{name}", response_class=HTMLResponse)
def skill(
    request: Request,
    name: str,
    state: StateDep,
    viewer: ViewerDep,
    old: VersionQuery = None,
    new: VersionQuery = None,
    rolled_back: VersionQuery = None,
) -> Response:
    library = state.services.library
    context = _context(viewer)
    versions = library.version_stats(name, context=context)  # 404 unless this tenant sees it
    scope = Scope(versions[0].scope)
    ids = [v.id for v in versions]
    canaries = canary_views(library, state.settings.evolution, ids)
    daily = daily_success(state.store, ids, tenant=viewer.tenant)
    return page(
        request,
        state,
        "skill.html",
        viewer,
        name=name,
        scope=scope.value,
        versions=versions,
        active=next((v for v in versions if v.status == "active"), None),
        lineage=lineage(versions, [c.row for c in canaries]),
        canaries=canaries,
        plot=success_plot([(v.id, v.version) for v in versions], daily),
        diff=version_diff(library, name, context, scope, versions, old, new),
        can_roll_back=may_roll_back(viewer, scope),
        # Said by the server from a number: a crafted link cannot put words on the page.
        notice=f"Rolled back: v{rolled_back} is active again." if rolled_back else None,
    )


@router.get("/ui/skills/{name}/rollback", response_class=HTMLResponse)
def confirm_rollback(
    request: Request,
    name: str,
    state: StateDep,
    viewer: ViewerDep,
    to: Annotated[int, Query(ge=1)],
) -> Response:
    """The confirmation step: what would be served instead of what, and one button."""
    versions = state.services.library.version_stats(name, context=_context(viewer))
    scope = Scope(versions[0].scope)
    target = next((v for v in versions if v.version == to), None)
    active = next((v for v in versions if v.status == "active"), None)
    allowed = may_roll_back(viewer, scope)
    return page(
        request,
        state,
        "rollback.html",
        viewer,
        name=name,
        scope=scope.value,
        target=target,
        active=active,
        to=to,
        allowed=allowed,
        status_code=404 if target is None else 200 if allowed else 403,
    )


@router.post("/ui/skills/{name}/rollback")
def do_rollback(
    request: Request,
    name: str,
    state: StateDep,
    viewer: ViewerDep,
    to: Annotated[int, Form(ge=1)],
    csrf_token: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    check_csrf(request, state, csrf_token)
    info = rollback(state, viewer, name, to=to, user=None)  # 403 when the key's role may not
    done = urlencode({"rolled_back": info.version})
    return RedirectResponse(f"/ui/skills/{quote(name)}?{done}", status_code=303)

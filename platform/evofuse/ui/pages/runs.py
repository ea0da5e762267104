"""/ui/runs (the tenant's runs, filtered) and /ui/runs/{id} (steps, candidates, verdicts,
feedback)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from evofuse.api.deps import StateDep
from evofuse.api.errors import ApiError
from evofuse.store.feedback import feedback_for_run
from evofuse.store.run_queries import get_run, list_runs
from evofuse.store.runs import RunStatus
from evofuse.ui.render import page
from evofuse.ui.session import ViewerDep

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
STATUSES = [s.value for s in RunStatus]
Text = Annotated[str, Query(max_length=200)]


def _day(name: str, value: str) -> datetime | None:
    """A date field of the filter form ('' when left empty) as midnight UTC."""
    if not value.strip():
        return None
    try:
        return datetime.combine(date.fromisoformat(value.strip()), datetime.min.time(), UTC)
    except ValueError:
        raise ApiError(
            400, f"{name}: {value!r} is not a date; use YYYY-MM-DD.", code="invalid_date"
        ) from None


@router.get("/ui/runs", response_class=HTMLResponse)
def runs(
    request: Request,
    state: StateDep,
    viewer: ViewerDep,
    graph: Text = "",
    skill: Text = "",
    status: Text = "",
    user: Annotated[str, Query(max_length=64, description="start of a user pseudonym")] = "",
    since: Text = "",
    until: Text = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    if status and status not in STATUSES:
        raise ApiError(
            400, f"status: {status!r} is not one of {', '.join(STATUSES)}.", code="invalid_status"
        )
    start, end = _day("since", since), _day("until", until)
    rows = list_runs(
        state.store,
        tenant=viewer.tenant,
        status=status or None,
        graph=graph or None,
        skill=skill or None,
        user_prefix=user.strip().lower() or None,
        since=start,
        until=end + timedelta(days=1) if end else None,  # the whole last day
        limit=PAGE_SIZE + 1,  # one more tells whether an older page exists
        offset=offset,
    )
    filters = {"graph": graph, "skill": skill, "status": status, "user": user}
    filters |= {"since": since, "until": until}
    more = len(rows) > PAGE_SIZE

    def link(at: int) -> str:
        return "/ui/runs?" + urlencode({**{k: v for k, v in filters.items() if v}, "offset": at})

    return page(
        request,
        state,
        "runs.html",
        viewer,
        runs=rows[:PAGE_SIZE],
        filters=filters,
        statuses=STATUSES,
        older=link(offset + PAGE_SIZE) if more else None,
        newer=link(max(0, offset - PAGE_SIZE)) if offset else None,
    )


@router.get("/ui/runs/{run_id}", response_class=HTMLResponse)
def run(request: Request, run_id: str, state: StateDep, viewer: ViewerDep) -> Response:
    detail: dict[str, Any] = get_run(state.store, run_id, tenant=viewer.tenant)  # else 404
    feedback = feedback_for_run(state.store, run_id, tenant=viewer.tenant)
    return page(request, state, "run.html", viewer, run=detail, feedback=feedback)

"""GET /v1/runs[/{run_id}] and POST /v1/feedback: a tenant's own runs, and ratings of them."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from evofuse.api.deps import PrincipalDep, StateDep
from evofuse.api.request_checks import refuse_unsafe_text
from evofuse.api.schemas import ErrorResponse, FeedbackOut, FeedbackRequest
from evofuse.store.feedback import record_feedback
from evofuse.store.run_queries import get_run, list_runs

router = APIRouter(tags=["runs"])
_404: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
}

RunStatus = Literal["running", "succeeded", "failed", "cancelled", "interrupted"]


@router.get("/v1/runs", responses={401: {"model": ErrorResponse}})
def runs(
    state: StateDep,
    principal: PrincipalDep,
    limit: int = Query(default=20, ge=1, le=200),
    status: RunStatus | None = None,
    graph: str | None = Query(default=None, max_length=200),
) -> dict[str, Any]:
    """This tenant's runs, newest first."""
    data = list_runs(state.store, tenant=principal.tenant, status=status, graph=graph, limit=limit)
    return {"object": "list", "data": data}


@router.get("/v1/runs/{run_id}", responses=_404)
def run(run_id: str, state: StateDep, principal: PrincipalDep) -> dict[str, Any]:
    """A run with its steps, candidates and verdicts; another tenant's run is not found."""
    return get_run(state.store, run_id, tenant=principal.tenant)


@router.post(
    "/v1/feedback",
    response_model=FeedbackOut,
    responses={**_404, 400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}},
)
def feedback(body: FeedbackRequest, state: StateDep, principal: PrincipalDep) -> FeedbackOut:
    """Rate a run in [0, 1]; rating it again (same user) replaces the earlier rating."""
    refuse_unsafe_text(body)
    user_hash = state.services.hasher(principal.tenant, body.user) if body.user else None
    row = record_feedback(
        state.store,
        run_id=body.run_id,
        score=body.score,
        comment=body.comment,
        tenant=principal.tenant,
        user_hash=user_hash,
    )
    assert row.id is not None
    return FeedbackOut(
        id=row.id,
        run_id=row.run_id,
        score=row.score,
        comment=row.comment,
        created_at=row.created_at,
    )

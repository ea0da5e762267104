"""POST/GET /v1/evolution/runs: trigger an evolution cycle and read its stored reports.

Admin keys only: a cycle changes skills every tenant uses, and its reports hold (scrubbed)
evidence from every tenant.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel

from evofuse.api.auth import Principal, actor, require_operator
from evofuse.api.deps import PrincipalDep, StateDep
from evofuse.api.schemas import ErrorResponse
from evofuse.evolution import get_cycle, list_cycles
from evofuse.store import audit

router = APIRouter(tags=["evolution"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
}


class EvolutionRunRequest(BaseModel):
    dry_run: bool = False  # propose and gate, publish nothing


def require_evolution_access(principal: Principal) -> None:
    """Cycles and their reports are for operator keys (the API's and the dashboard's rule)."""
    require_operator(
        principal,
        "run evolution or read its reports",
        "a cycle changes skills shared by every tenant and its reports quote every tenant's "
        "evidence",
    )


@router.post(
    "/v1/evolution/runs",
    status_code=202,
    responses={**_ERRORS, 409: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
async def start_run(
    state: StateDep,
    principal: PrincipalDep,
    body: Annotated[EvolutionRunRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Start one cycle on a worker thread; 409 names the holder if a cycle is already running.

    The cycle runs on a thread of its own, so chat requests are never stalled by it.
    """
    require_evolution_access(principal)
    dry_run = body.dry_run if body else False
    cycle_id = await asyncio.to_thread(state.evolution.start, dry_run=dry_run)
    await asyncio.to_thread(
        audit.record,
        state.store,
        actor=actor(principal),
        action=audit.AuditAction.EVOLUTION_TRIGGER,
        tenant=principal.tenant,
        target=f"cycle {cycle_id}",
        detail={"dry_run": dry_run},
    )
    return {"object": "evolution.run", "id": cycle_id, "status": "running", "dry_run": dry_run}


@router.get("/v1/evolution/runs", responses=_ERRORS)
def runs(
    state: StateDep, principal: PrincipalDep, limit: int = Query(default=20, ge=1, le=200)
) -> dict[str, Any]:
    """Stored cycles, newest first."""
    require_evolution_access(principal)
    data = [c.model_dump(mode="json") for c in list_cycles(state.store, limit=limit)]
    return {"object": "list", "data": data}


@router.get("/v1/evolution/runs/{cycle_id}", responses={**_ERRORS, 404: {"model": ErrorResponse}})
def run(cycle_id: int, state: StateDep, principal: PrincipalDep) -> dict[str, Any]:
    """One cycle's report: evidence, proposals, gate results with reasons, promotions, cost."""
    require_evolution_access(principal)
    return get_cycle(state.store, cycle_id).model_dump(mode="json")

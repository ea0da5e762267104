"""/ui/evolution (cycles, status, cost) and /ui/evolution/{id} (every proposal, its gate checks,
replay and diff). Admin keys only, as GET /v1/evolution/runs: reports hold evidence from every
tenant."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from evofuse.api.deps import StateDep
from evofuse.api.routes.evolution import require_evolution_access
from evofuse.evolution import get_cycle, list_cycles
from evofuse.ui.diffview import diff_lines
from evofuse.ui.render import page
from evofuse.ui.session import ViewerDep

router = APIRouter(include_in_schema=False)
CYCLES_SHOWN = 100


@router.get("/ui/evolution", response_class=HTMLResponse)
def cycles(request: Request, state: StateDep, viewer: ViewerDep) -> Response:
    require_evolution_access(viewer)
    rows = list_cycles(state.store, limit=CYCLES_SHOWN)
    return page(request, state, "evolution.html", viewer, cycles=rows)


@router.get("/ui/evolution/{cycle_id}", response_class=HTMLResponse)
def cycle(request: Request, cycle_id: int, state: StateDep, viewer: ViewerDep) -> Response:
    require_evolution_access(viewer)
    report = get_cycle(state.store, cycle_id)  # 404 for an unknown id
    proposals = [(p, diff_lines(p.diff)) for p in report.proposals]
    return page(request, state, "cycle.html", viewer, report=report, proposals=proposals)

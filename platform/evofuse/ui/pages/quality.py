"""/ui/quality: the latest learning-quality and benchmark results found in `ui.results_dir`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from evofuse.api.deps import StateDep
from evofuse.api.errors import ApiError
from evofuse.ui.render import page
from evofuse.ui.results import listed, load_results
from evofuse.ui.session import ViewerDep

router = APIRouter(include_in_schema=False)


@router.get("/ui/quality", response_class=HTMLResponse)
def quality(request: Request, state: StateDep, viewer: ViewerDep) -> Response:
    results = load_results(state.settings.ui.results_dir)
    return page(request, state, "quality.html", viewer, results=results)


@router.get("/ui/quality/files/{name}")
def result_file(name: str, state: StateDep, viewer: ViewerDep) -> Response:
    """One listed file, by its exact name: nothing else in (or outside) the folder is served."""
    del viewer  # logged in is enough: results describe the software, not a tenant's data
    folder = state.settings.ui.results_dir
    if name not in {f.name for f in listed(folder)}:
        raise ApiError(404, f"No result file {name!r} to show.", code="result_not_found")
    media = "image/png" if name.endswith(".png") else "application/json"
    return FileResponse(folder / name, media_type=media, headers={"Cache-Control": "no-store"})

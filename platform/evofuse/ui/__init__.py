"""The dashboard at /ui: server-rendered pages over the same auth, tenant scoping and queries as
the JSON API, plus /docs and /redoc served offline."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Add the dashboard to the API's app; call after the API's error handlers are installed."""
    # Imported here: the pages import the API's modules, and the API's app imports this one.
    from fastapi.staticfiles import StaticFiles

    from evofuse.ui import docs, errors
    from evofuse.ui.pages import evolution, login, quality, runs, skills
    from evofuse.ui.render import STATIC

    for module in (login, skills, runs, evolution, quality):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    docs.install(app)
    errors.install(app)

"""The API's routes, thin: each parses, authorizes and calls a module that does the work."""

from fastapi import APIRouter

from evofuse.api.routes import catalog, chat, evolution, governance, ops, runs, skills


def routers() -> list[APIRouter]:
    return [
        chat.router,
        catalog.router,
        runs.router,
        skills.router,
        evolution.router,
        governance.router,
        ops.router,
    ]

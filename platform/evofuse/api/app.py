"""The FastAPI app: `create_app(settings)` for code and tests, `app_from_env()` for uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from evofuse import __version__
from evofuse.api import errors
from evofuse.api.body_limit import BodyLimitMiddleware
from evofuse.api.cross_site import CrossSiteGuard
from evofuse.api.metrics import MetricsMiddleware
from evofuse.api.routes import routers
from evofuse.api.state import ApiState
from evofuse.config import Settings
from evofuse.services import Services
from evofuse.ui import mount as mount_ui

DESCRIPTION = """\
OpenAI-compatible chat completions where every LLM step is fused from a pool of models,
plus run records, feedback and the skill library. `model` is a graph id or `fusion/<profile>`.
Send your key as `Authorization: Bearer <key>` (`evofuse keys create --tenant NAME`).
"""


def create_app(config: Settings | Services) -> FastAPI:
    """The API of one deployment. Given `Settings`, the app owns and closes its services."""
    owned = isinstance(config, Settings)
    services = Services.from_settings(config) if isinstance(config, Settings) else config
    state = ApiState.build(services)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Serve at once: LiteLLM's import and the embedding model load in a thread meanwhile
        # (seconds). A request that comes first waits for the gateway outside its models' timers.
        warming = asyncio.create_task(asyncio.to_thread(state.warm_up))
        async with state.runner:
            yield
        # A running evolution cycle stops at its next await and stores its report first.
        await state.evolution.aclose()
        await warming  # its thread uses the services closed below
        if owned:
            services.close()

    app = FastAPI(
        title="EvoFuse",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from ui.docs, with their assets served locally
        redoc_url=None,
    )
    app.state.api = state
    errors.install(app)
    api = state.settings.api
    app.add_middleware(BodyLimitMiddleware, max_bytes=api.max_body_bytes)
    app.add_middleware(CrossSiteGuard, allowed_origins=api.cors_origins)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    if api.cors_origins:  # off unless configured: browsers get no CORS headers by default
        app.add_middleware(
            CORSMiddleware,
            allow_origins=api.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["X-EvoFuse-Run-Id"],
        )
    for router in routers():
        app.include_router(router)
    mount_ui(app)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's document, with its 422 validation errors replaced by the 400 we really send."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            error = {
                "description": "Invalid request (OpenAI's error shape)",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
                },
            }
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.pop("422", None) is not None:
                        responses.setdefault("400", error)
            components = schema.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    return build


def app_from_env() -> FastAPI:
    """The app for `uvicorn --factory` (and `evofuse serve --workers N`): config from the env."""
    from evofuse.config import load_settings

    return create_app(load_settings())

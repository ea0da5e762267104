"""GET /healthz and GET /metrics, for load balancers and Prometheus (no API key needed).

/metrics asks for `api.metrics_token` as a Bearer token when one is configured: label values
name models and routes, which is more than an anonymous caller needs to know.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from evofuse import __version__
from evofuse.api.deps import StateDep
from evofuse.api.errors import ApiError
from evofuse.api.schemas import ErrorResponse, Health
from evofuse.store import Store

router = APIRouter(tags=["operations"])


def _database_error(store: Store) -> str | None:
    try:
        with store.session() as session:
            session.connection().exec_driver_sql("SELECT 1")
    except Exception as exc:  # any failure means "not healthy"; the message says which
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(state: StateDep) -> Response:
    """200 while the database answers, 503 otherwise; `models` says whether the model library
    has finished loading after start-up (under `serve --workers N`, in every worker)."""
    error = _database_error(state.store)
    health = Health(
        status="ok" if error is None else "degraded",
        database="ok" if error is None else error,
        version=__version__,
        models="ready"
        if state.readiness.all_ready(state.services.engine.gateway.is_warm)
        else "warming",
    )
    return JSONResponse(health.model_dump(), status_code=200 if error is None else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        401: {"model": ErrorResponse},
    },
)
def metrics(state: StateDep, authorization: str | None = Header(default=None)) -> Response:
    """Prometheus text format; needs `Bearer <api.metrics_token>` when that is set."""
    token = state.settings.api.metrics_token
    if token is not None:
        scheme, _, secret = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            secret.strip().encode(), token.encode()
        ):
            raise ApiError(
                401,
                "/metrics needs `Authorization: Bearer <token>` with the api.metrics_token "
                "of this deployment (set it as the bearer token in your Prometheus scrape "
                "config).",
                code="invalid_metrics_token",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

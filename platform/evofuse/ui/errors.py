"""Errors on /ui pages as HTML pages (same status codes as the API), everywhere else unchanged.

The API's handlers stay registered; each one is wrapped so that only requests under /ui get a
page instead of OpenAI's JSON error shape.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from evofuse.api.deps import get_state
from evofuse.api.errors import ApiError, from_evofuse, run_not_found, validation_message
from evofuse.errors import EvoFuseError, RunNotFoundError
from evofuse.ui.render import page
from evofuse.ui.session import COOKIE_PATH, CsrfError, LoginRequired, principal_or_none

log = logging.getLogger("evofuse.ui")
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _described(exc: Exception) -> tuple[int, str]:
    """The status and message the API would answer with."""
    if isinstance(exc, ApiError):
        return exc.status, exc.message
    if isinstance(exc, EvoFuseError):
        error = from_evofuse(exc)
        return error.status, error.message
    if isinstance(exc, RunNotFoundError):
        return 404, run_not_found(str(exc)).message
    if isinstance(exc, RequestValidationError):
        return 400, validation_message(exc.errors())[0]
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, str(exc.detail)
    if isinstance(exc, CsrfError):
        return 403, (
            "This form has expired or did not come from this dashboard (missing or wrong CSRF "
            "token). Reload the page and submit it again."
        )
    log.exception("unhandled error on a dashboard page", exc_info=exc)
    return 500, f"Internal error ({type(exc).__name__}); the server log has the details."


def error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, LoginRequired):
        return RedirectResponse(f"{COOKIE_PATH}/login?next={quote(exc.next_path)}", 303)
    status, message = _described(exc)
    state = get_state(request)
    try:
        principal = principal_or_none(request, state)
    except Exception:  # the database is down: still say what went wrong
        principal = None
    return page(
        request, state, "error.html", principal, status_code=status, status=status, message=message
    )


def install(app: FastAPI) -> None:
    """Route errors of /ui requests to `error_page`; call after the API's own handlers."""
    for kind in (ApiError, EvoFuseError, RunNotFoundError, RequestValidationError,
                 StarletteHTTPException, Exception):  # fmt: skip
        app.add_exception_handler(kind, _wrap(app.exception_handlers.get(kind)))
    for own in (LoginRequired, CsrfError):
        app.add_exception_handler(own, _wrap(None))


def _wrap(api_handler: Handler | None) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(COOKIE_PATH) or api_handler is None:
            return error_page(request, exc)
        answer = api_handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    return handle

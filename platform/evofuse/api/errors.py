"""Every error leaves the API in OpenAI's shape: `{"error": {"message", "type", "code", "param"}}`.

OpenAI's SDKs and LangChain turn that shape into their own exception classes by HTTP status, so
clients see `BadRequestError`, `AuthenticationError`, `NotFoundError`, `RateLimitError`, … with
our message, which always says what to do next.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from evofuse.errors import EvoFuseError, RunNotFoundError

log = logging.getLogger("evofuse.api")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error raised by the HTTP layer itself (auth, limits, unsupported parameters)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        type_: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type_ or error_type(status)
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code, self.param)


def error_type(status: int) -> str:
    return _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_body(
    message: str, type_: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def from_evofuse(exc: EvoFuseError) -> ApiError:
    """EvoFuse's own errors already carry their status and a stable code."""
    message = f"{exc.message} {exc.hint}" if exc.hint else exc.message
    return ApiError(exc.http_status, message, code=exc.code, param=exc.param)


def run_not_found(run_id: str) -> ApiError:
    return ApiError(
        404,
        f"No run {run_id!r} for this API key's tenant.",
        code="run_not_found",
        param="run_id",
    )


def validation_message(errors: Sequence[Any]) -> tuple[str, str | None]:
    """A readable message (every problem, by field) and the most specific field's name.

    For a field that accepts several types (a message's content: text or a list of parts),
    pydantic reports a failure per type; only the deepest one says what is wrong.
    """
    found: list[tuple[tuple[str, ...], str]] = []
    for err in errors:
        loc = tuple(str(part) for part in err.get("loc", ()) if not _type_tag(part))
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unrecognized request argument (EvoFuse rejects what it cannot honour)"
        elif err.get("type") == "json_invalid":
            # Its location is ("body", <character offset>): an offset is no parameter name.
            offset = next((p for p in err.get("loc", ()) if isinstance(p, int)), None)
            where = f" at character {offset}" if offset is not None else ""
            why = (err.get("ctx") or {}).get("error")
            msg = f"the request body is not valid JSON{where}" + (f" ({why})" if why else "")
            loc = ()
        found.append((loc, msg))
    deepest = [
        (loc, msg)
        for loc, msg in found
        if not any(other[: len(loc)] == loc and len(other) > len(loc) for other, _ in found)
    ]
    parts = [f"{'.'.join(loc)}: {msg}" if loc else msg for loc, msg in deepest]
    param = max((loc for loc, _ in deepest), key=len, default=())
    return "Invalid request: " + "; ".join(dict.fromkeys(parts)), ".".join(param) or None


_SOURCES = {"body", "query", "path", "header"}
_TYPE_NAMES = {"str", "int", "float", "bool", "list", "dict", "none", "json-or-python"}


def _type_tag(part: object) -> bool:
    """Parts of pydantic's error location that name a type, not a field (`str`, `list[…]`)."""
    if not isinstance(part, str):
        return False
    return part in _SOURCES or part in _TYPE_NAMES or "[" in part or part[:1].isupper()


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the OpenAI error shape."""

    async def api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def evofuse_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, EvoFuseError)
        if exc.http_status >= 500:
            log.warning("request failed: %s", exc)
        error = from_evofuse(exc)
        return JSONResponse(error.body(), status_code=error.status)

    async def run_missing(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RunNotFoundError)
        error = run_not_found(exc.run_id)
        return JSONResponse(error.body(), status_code=error.status)

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, param = validation_message(exc.errors())
        body = error_body(message, "invalid_request_error", "invalid_request", param)
        return JSONResponse(body, status_code=400)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = error_body(str(exc.detail), error_type(exc.status_code), code)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        body = error_body(
            f"Internal error ({type(exc).__name__}); the server log has the details.",
            "server_error",
            "internal_error",
        )
        return JSONResponse(body, status_code=500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(EvoFuseError, evofuse_error)
    app.add_exception_handler(RunNotFoundError, run_missing)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)

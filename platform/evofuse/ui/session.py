"""Who is looking at the dashboard: the API key kept in a cookie, and CSRF tokens bound to it.

The cookie holds the API key itself rather than the id of a server-side session. A key is
already a revocable bearer secret that the server checks on every request (one indexed SELECT
of its hash), so keeping it costs no table, no migration and no session store to share between
`evofuse serve --workers N` processes or replicas, and revoking the key ends every dashboard
session at once. It stays out of reach of page scripts (HttpOnly), out of cross-site requests
(SameSite=Strict), off plain HTTP when the dashboard is served over HTTPS (Secure), and is only
sent to /ui paths.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from evofuse.api.auth import ANONYMOUS, Principal, authenticate
from evofuse.api.deps import StateDep
from evofuse.api.errors import ApiError
from evofuse.api.state import ApiState

KEY_COOKIE = "evofuse_key"
# CSRF material for visitors without a key cookie: the login form, and every form when
# auth.enabled is false. Random, per browser, as protected as the key cookie.
SEED_COOKIE = "evofuse_csrf"
CSRF_FIELD = "csrf_token"
COOKIE_PATH = "/ui"
KEY_MAX_AGE_S = 7 * 24 * 3600


class LoginRequired(Exception):
    """No valid key in the cookie: the page sends the browser to the login form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfError(Exception):
    """A form that changes state came without the token of this browser's session."""


def principal_or_none(request: Request, state: ApiState) -> Principal | None:
    """The caller as the API would see them with the cookie's key as a Bearer token."""
    if not state.auth_enabled:
        return ANONYMOUS
    key = request.cookies.get(KEY_COOKIE)
    if not key:
        return None
    try:
        return authenticate(state.store, f"Bearer {key}", enabled=True)
    except ApiError:  # revoked or unknown: log in again
        return None


def viewer(request: Request, state: StateDep) -> Principal:
    principal = principal_or_none(request, state)
    if principal is None:
        raise LoginRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
    return principal


ViewerDep = Annotated[Principal, Depends(viewer)]


def _material(request: Request, state: ApiState) -> str:
    """What this browser's CSRF token is derived from: its key, else its random seed."""
    key = request.cookies.get(KEY_COOKIE) if state.auth_enabled else None
    if key:
        return key
    seed = request.cookies.get(SEED_COOKIE) or getattr(request.state, "new_csrf_seed", None)
    if seed is None:
        seed = secrets.token_urlsafe(32)
        request.state.new_csrf_seed = seed  # set on the response by `finish`
    return str(seed)


def csrf_token(request: Request, state: ApiState) -> str:
    """An HMAC of the session's secret: another site can neither read nor compute it."""
    material = _material(request, state).encode()
    return hmac.new(material, b"evofuse-ui-csrf", hashlib.sha256).hexdigest()


def check_csrf(request: Request, state: ApiState, token: str | None) -> None:
    has_material = request.cookies.get(KEY_COOKIE) or request.cookies.get(SEED_COOKIE)
    if not token or not has_material or not hmac.compare_digest(token, csrf_token(request, state)):
        raise CsrfError


def _secure(request: Request) -> bool:
    # uvicorn sets the scheme from X-Forwarded-Proto for trusted proxies (--forwarded-allow-ips).
    return request.url.scheme == "https"


def finish(request: Request, response: Response) -> Response:
    """Set the CSRF seed cookie if this request made one."""
    seed = getattr(request.state, "new_csrf_seed", None)
    if seed is not None:
        response.set_cookie(
            SEED_COOKIE,
            seed,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
    return response


def remember_key(request: Request, response: Response, key: str) -> None:
    response.set_cookie(
        KEY_COOKIE,
        key,
        max_age=KEY_MAX_AGE_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def forget_key(request: Request, response: Response) -> None:
    response.delete_cookie(
        KEY_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request)
    )


def safe_next(path: str | None) -> str:
    """Where to go after logging in: a dashboard path only, never another site."""
    if path and path.startswith(COOKIE_PATH) and not path.startswith("//") and "\\" not in path:
        return path
    return COOKIE_PATH

"""/ui/login and /ui/logout: an API key pasted once, kept in an HttpOnly cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from evofuse.api.auth import authenticate
from evofuse.api.deps import StateDep
from evofuse.api.errors import ApiError
from evofuse.ui.render import page
from evofuse.ui.session import (
    CSRF_FIELD,
    check_csrf,
    forget_key,
    principal_or_none,
    remember_key,
    safe_next,
)

router = APIRouter(include_in_schema=False)
NextPath = Annotated[str, Query(max_length=2000)]
CsrfForm = Annotated[str | None, Form(alias=CSRF_FIELD)]


@router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, state: StateDep, next: NextPath = "/ui") -> Response:
    if not state.auth_enabled:  # auth.enabled: false — the pages are open, as the API is
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, state, "login.html", principal_or_none(request, state), next=next)


@router.post("/ui/login", response_class=HTMLResponse)
def login(
    request: Request,
    state: StateDep,
    key: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/ui",
    csrf_token: CsrfForm = None,
) -> Response:
    check_csrf(request, state, csrf_token)
    if not state.auth_enabled:
        return RedirectResponse(safe_next(next), status_code=303)
    try:
        authenticate(state.store, f"Bearer {key.strip()}", enabled=True)
    except ApiError as exc:
        return page(
            request, state, "login.html", None, next=next, error=exc.message, status_code=401
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    remember_key(request, response, key.strip())
    return response


@router.post("/ui/logout")
def logout(request: Request, state: StateDep, csrf_token: CsrfForm = None) -> Response:
    check_csrf(request, state, csrf_token)
    response = RedirectResponse("/ui/login", status_code=303)
    forget_key(request, response)
    return response

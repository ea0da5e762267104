"""Pages from Jinja2 templates shipped in the package; every value is HTML-escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from evofuse import __version__
from evofuse.api.auth import Principal
from evofuse.api.state import ApiState
from evofuse.ui.session import CSRF_FIELD, csrf_token, finish

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"

# Pages load nothing but their own stylesheet: no script, no frame, no form to another origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(moment: datetime | str | None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:  # SQLite drops the zone; everything is written in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def usd(value: float | None) -> str:
    return "—" if value is None else f"${value:.4f}"


def millis(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its extension (the plot is .svg)
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, percent=percent, usd=usd, millis=millis)
    env.globals.update(version=__version__, csrf_field=CSRF_FIELD)
    return env


templates = Jinja2Templates(env=_environment())


def page(
    request: Request,
    state: ApiState,
    template: str,
    principal: Principal | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A whole page: the layout knows the viewer (nav, admin-only links) and the CSRF token."""
    values = {
        "viewer": principal,
        "auth_enabled": state.auth_enabled,
        "csrf": csrf_token(request, state),
        **context,
    }
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    finish(request, response)
    return response

"""Cross-site requests may not change state through the JSON API.

A web page on another site can make a visitor's browser send a POST or DELETE here without any
preflight (an HTML form, or `fetch` with `mode: "no-cors"`). With `auth.enabled: false` nothing
else would stop it from rolling back a skill or starting a cycle from a page the operator merely
visits. Browsers label such requests `Sec-Fetch-Site: cross-site` (and send `Origin`); API
clients (SDKs, curl) send neither, so they are unaffected. Origins listed in `api.cors_origins`
stay allowed. The dashboard's own forms are same-origin and carry CSRF tokens besides.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from evofuse.api.errors import error_body

_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CrossSiteGuard:
    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str] = ()) -> None:
        self.app = app
        self.allowed = frozenset(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") in _STATE_CHANGING
            and str(scope.get("path", "")).startswith("/v1/")
            and self._cross_site(scope)
        ):
            refusal = JSONResponse(
                error_body(
                    "A page on another site may not change this server's state. Call the API "
                    "from a server-side client, or list the page's origin in api.cors_origins.",
                    code="cross_site_request",
                    type_="invalid_request_error",
                ),
                status_code=403,
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _cross_site(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        if site not in ("cross-site", "same-site"):
            return False  # not a browser, or the page is this server's own (same-origin)
        origin = headers.get(b"origin", b"").decode("latin-1")
        return origin not in self.allowed

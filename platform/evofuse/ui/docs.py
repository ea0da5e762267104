"""/docs (Swagger UI) and /redoc with their JavaScript and CSS served by this server: both work
offline. The files come from the `fastapi-offline` package (MIT; it ships swagger-ui-dist and
ReDoc's standalone bundle with their licence headers), which EvoFuse depends on for that alone.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static/docs"
# Nothing but this server: ReDoc's sidebar links a logo on cdn.redoc.ly, which the browser is
# not even allowed to ask for (the pages' own bootstrap scripts are inline, hence the hash-free
# 'unsafe-inline'; ReDoc's search runs in a worker made from a blob).
OFFLINE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'none'"
)
# Its place stays empty instead of showing a broken image.
_HIDE_REMOTE_LOGO = '<style>img[src^="https://cdn.redoc.ly"] { display: none; }</style>'


def assets_folder() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def install(app: FastAPI) -> None:
    """Serve the two documentation pages; `app` must be built with docs_url=redoc_url=None."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_folder()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            # Swagger UI would send the document to validator.swagger.io for its badge.
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = OFFLINE_CSP
        return page

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        html = bytes(page.body).decode().replace("</head>", _HIDE_REMOTE_LOGO + "</head>", 1)
        return HTMLResponse(html, headers={"Content-Security-Policy": OFFLINE_CSP})

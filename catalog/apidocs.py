"""The interactive API docs page (Swagger UI) served from the package, never from a CDN.

FastAPI's own docs page loads Swagger UI from jsDelivr and is blank without internet. Each
service copies Swagger UI from npm into its ``static/vendor`` folder at build time
(``scripts/build-web.sh``) and serves the page with FastAPI's page builder pointed there.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse

SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-favicon.png")
BUILD_HINT = "run scripts/build-web.sh (npm ci, then copy Swagger UI into static/vendor)"


def add_docs_page(app: FastAPI, vendor_dir: Path, vendor_url: str, docs_url: str) -> None:
    """Serve Swagger UI for ``app.openapi_url`` at ``docs_url`` with files from ``vendor_dir``,
    which the app serves at ``vendor_url``."""
    openapi_url = app.openapi_url or "/api"

    async def docs_page(request: Request) -> HTMLResponse:
        missing = [name for name in SWAGGER_FILES if not (vendor_dir / name).is_file()]
        if missing:
            return HTMLResponse(
                f"<h1>API docs unavailable</h1><p>{', '.join(missing)} missing: {BUILD_HINT}.</p>",
                status_code=503,
            )
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{vendor_url}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{vendor_url}/swagger-ui.css",
            swagger_favicon_url=f"{root}{vendor_url}/swagger-ui-favicon.png",
        )

    # "swagger_ui_html" as FastAPI names its own: stac-fastapi links the landing page to it.
    app.add_route(docs_url, docs_page, name="swagger_ui_html", include_in_schema=False)

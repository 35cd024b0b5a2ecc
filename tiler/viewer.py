"""The web map page (MapLibre GL JS, served from the package) and what it needs to start."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse

from catalog.legend import LEGEND
from tiler.dependencies import app_state
from tiler.errors import TilerError
from tiler.searchparams import NEWEST_FIRST
from tiler.settings import TilerSettings

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
VENDOR_FILES = ("maplibre-gl.js", "maplibre-gl.css")
BUILD_HINT = "run scripts/build-web.sh (npm ci, then copy MapLibre GL JS into tiler/static/vendor)"


class WebAssetsMissing(TilerError):
    """MapLibre GL JS was not copied into the package (the web build step was not run)."""

    status_code = 503


def content_security_policy(settings: TilerSettings) -> str:
    """The web map's ``Content-Security-Policy``: its own files and tiles, the basemap's
    server if one is configured, and the blob: workers MapLibre GL JS starts."""
    basemap = ""
    if settings.basemap_url:
        parts = urlsplit(settings.basemap_url)
        basemap = f" {parts.scheme}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{basemap}",
            f"connect-src 'self'{basemap}",
            "worker-src blob:",
            "child-src blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


def missing_vendor_files() -> list[str]:
    """The front-end files the page loads that are not in ``tiler/static/vendor``."""
    return [name for name in VENDOR_FILES if not (VENDOR_DIR / name).is_file()]


def _latest(request: Request, collection_id: str) -> dict[str, Any] | None:
    state = app_state(request)
    search = {
        "collections": [collection_id],
        "sortby": NEWEST_FIRST,
        "fields": {"include": ["id", "bbox", "properties.datetime"]},
    }
    items, _ = state.catalog.search_items(search, 1)
    if not items:
        return None
    item = items[0]
    return {
        "id": item["id"],
        "bbox": item.get("bbox"),
        "datetime": (item.get("properties") or {}).get("datetime"),
    }


def register(router: APIRouter) -> None:
    """Add ``/viewer`` and ``/viewer/config.json``."""

    @router.get("/viewer", response_class=FileResponse, tags=["Web map"])
    def viewer() -> FileResponse:
        """The web map: pick a collection and dates, see the mosaic, click for the class."""
        missing = missing_vendor_files()
        if missing:
            raise WebAssetsMissing(f"web map assets {', '.join(missing)} are missing: {BUILD_HINT}")
        return FileResponse(STATIC_DIR / "viewer.html", media_type="text/html")

    @router.get("/viewer/config.json", tags=["Web map"])
    def viewer_config(request: Request) -> dict[str, Any]:
        """Collections (with their newest item), legend, links and limits for the web map."""
        state = app_state(request)
        collections = []
        for collection_id in state.catalog.collection_ids():
            collection = state.catalog.collection(collection_id)
            collections.append(
                {
                    "id": collection_id,
                    "title": collection.get("title") or collection_id,
                    "latest": _latest(request, collection_id),
                }
            )
        return {
            "title": state.settings.title,
            "api_url": state.settings.api_url.rstrip("/"),
            "basemap_url": state.settings.basemap_url,
            "tile_matrix_set": "WebMercatorQuad",
            "max_date_range_days": state.settings.max_date_range_days,
            "collections": collections,
            "legend": [c.to_json() for c in LEGEND],
        }

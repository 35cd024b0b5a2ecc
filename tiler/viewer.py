"""The web map page (MapLibre GL JS, served from the package) and what it needs to start."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from starlette.requests import Request
from starlette.responses import FileResponse

from catalog.legend import LEGEND
from catalog.properties import CLOUD_COVER, class_share_properties
from tiler.dependencies import app_state
from tiler.errors import TilerError
from tiler.searchparams import NEWEST_FIRST, SearchQuery
from tiler.settings import TilerSettings

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
VENDOR_FILES = ("maplibre-gl.js", "maplibre-gl.css", "topojson-client.min.js", "countries-50m.json")
BUILD_HINT = (
    "run scripts/build-web.sh (npm ci, then copy MapLibre GL JS, topojson-client and the "
    "world-atlas basemap into tiler/static/vendor)"
)
MAX_FOOTPRINTS = 500
"""At most this many item footprints (with their class shares) for the cursor readout."""


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


def _search(request: Request, collection_id: str, query: SearchQuery) -> dict[str, Any]:
    """The web map's search of one collection (known, or :class:`NotFound`), checked."""
    state = app_state(request)
    state.catalog.collection(collection_id)
    settings = state.settings
    return query.to_search(
        collection_id, settings.max_date_range_days, True, settings.filter_limits
    )


def _footprint(item: dict[str, Any], order: int) -> dict[str, Any]:
    props = item.get("properties") or {}
    shares = {name: props.get(name) for name in class_share_properties().values()}
    return {
        "type": "Feature",
        "id": order,
        "geometry": item.get("geometry"),
        "properties": {
            "id": item["id"],
            "order": order,
            "datetime": props.get("datetime"),
            CLOUD_COVER: props.get(CLOUD_COVER),
            **shares,
        },
    }


def register(router: APIRouter) -> None:
    """Add ``/viewer``, its configuration and the date and footprint answers it asks for."""

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

    @router.get("/viewer/collections/{collection_id}/dates.json", tags=["Web map"])
    def viewer_dates(
        request: Request,
        collection_id: Annotated[str, PathParam(description="Mask collection id")],
        query: SearchQuery = Depends(),
    ) -> dict[str, Any]:
        """Whether any item matches in the date range (and the filter), and the datetimes of
        the nearest matching items before and after the range: where the map moves to when
        nothing matches."""
        search = _search(request, collection_id, query)
        start, end = search.pop("datetime").split("/")
        search.pop("sortby", None)
        search.pop("bbox", None)
        found = app_state(request).catalog.nearest_dates(search, start, end)
        return {"collection": collection_id, "datetime": f"{start}/{end}", **found}

    @router.get("/viewer/collections/{collection_id}/footprints.json", tags=["Web map"])
    def viewer_footprints(
        request: Request,
        collection_id: Annotated[str, PathParam(description="Mask collection id")],
        query: SearchQuery = Depends(),
    ) -> dict[str, Any]:
        """The footprints of the items of the date range in mosaic order (``order`` 0 is on
        top), with their cloud cover and class shares: what the map shows under the cursor."""
        search = _search(request, collection_id, query)
        shares = [f"properties.{name}" for name in class_share_properties().values()]
        search["fields"] = {
            "include": [
                "id",
                "geometry",
                "properties.datetime",
                f"properties.{CLOUD_COVER}",
                *shares,
            ]
        }
        items, truncated = app_state(request).catalog.search_items(search, MAX_FOOTPRINTS)
        return {
            "type": "FeatureCollection",
            "features": [_footprint(item, n) for n, item in enumerate(items)],
            "truncated": truncated,
        }

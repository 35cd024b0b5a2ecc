"""FastAPI dependencies that give titiler's factories KappaCat's paths, limits and caching.

Where the item or mosaic comes from, what a request may ask for, the legend colours by
default and the cache headers of tiles. Those that never wait on the database are ``async``:
FastAPI runs them on the event loop instead of handing each to a worker thread.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Path, Query
from morecantile.defaults import TileMatrixSets
from rio_tiler.colormap import cmap
from rio_tiler.types import ColorMapType
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from titiler.core.dependencies import ColorMapParams

from catalog import __version__
from catalog.legend import legend_colormap
from tiler.catalog import Catalog
from tiler.errors import BadRequest, NotFound, NotModified
from tiler.searchparams import SearchQuery
from tiler.settings import TilerSettings
from tiler.storage import MASK_ASSET, StorageRoots

MAX_SCALE = 4
"""Largest ``@{scale}x`` of a tile (4: 1024 px tiles in WebMercatorQuad)."""
TILE_FORMATS = {"png", "webp"}
"""Lossless formats: a lossy one would change class colours."""


@dataclass
class AppState:
    """What the routes of one app share: settings, catalogue, storage roots, tile grids."""

    settings: TilerSettings
    catalog: Catalog
    roots: StorageRoots
    tms: TileMatrixSets


def app_state(request: Request) -> AppState:
    """The state of the app serving ``request``."""
    state: AppState = request.app.state.kappacat
    return state


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def check_limits(request: Request) -> None:
    """Refuse tile indices outside the grid and sizes above the limits, before any work."""
    settings = app_state(request).settings
    query, path = request.query_params, request.path_params
    tilesize = _int(query.get("tilesize"))
    if tilesize is not None and tilesize > settings.max_tile_size:
        raise BadRequest(f"tilesize {tilesize} is above the limit of {settings.max_tile_size}")
    if "scale" in path or "scale" in query:
        scale = _int(path.get("scale", query.get("scale")))
        if scale is None or not 1 <= scale <= MAX_SCALE:
            raise BadRequest(f"scale must be a whole number from 1 to {MAX_SCALE} (@2x: 512 px)")
        if tilesize is None and scale * 256 > settings.max_tile_size:
            raise BadRequest(
                f"@{scale}x tiles are above the tile size limit of {settings.max_tile_size}"
            )
    items_limit = _int(query.get("items_limit"))
    if items_limit is not None and items_limit > settings.max_items_per_tile:
        raise BadRequest(
            f"items_limit {items_limit} is above the limit of {settings.max_items_per_tile}"
        )
    fmt = path.get("format")
    if fmt is not None and fmt not in TILE_FORMATS:
        raise BadRequest(f"tile format {fmt!r} is not offered; use {' or '.join(TILE_FORMATS)}")
    supported = app_state(request).tms
    _check_tile_index(supported, path)
    _check_zoom_ranges(supported, path.get("tileMatrixSetId"), query.getlist("zooms"), query)


def _check_zoom_ranges(
    supported: TileMatrixSets, tms_id: str | None, zooms: list[str], query: Any
) -> None:
    """Refuse ``minzoom``/``maxzoom`` (tilesets, TileJSON) and WMTS ``zooms`` outside the zoom
    levels of their grid: a tileset listing zoom 1 000 took 10 s of CPU, one of 5 000 a 500."""
    ranges: list[tuple[str, int | None, int | None]] = []
    if tms_id in supported.tilematrixsets:
        ranges.append((str(tms_id), _int(query.get("minzoom")), _int(query.get("maxzoom"))))
    for entry in zooms:  # WMTS: "WebMercatorQuad::0,18" or "*::0,18"
        name, _, levels = entry.partition("::")
        first, _, last = levels.partition(",")
        grids = supported.list() if name == "*" else [name]
        ranges += [(g, _int(first), _int(last)) for g in grids if g in supported.tilematrixsets]
    for grid, low, high in ranges:
        tms = supported.get(grid)
        for bound, zoom in (("minzoom", low), ("maxzoom", high)):
            if zoom is not None and not tms.minzoom <= zoom <= tms.maxzoom:
                raise BadRequest(
                    f"{bound} {zoom} is outside the zoom levels of {grid} "
                    f"({tms.minzoom}-{tms.maxzoom})"
                )
        if low is not None and high is not None and low > high:
            raise BadRequest(f"minzoom {low} is above maxzoom {high}")


def _check_tile_index(supported: TileMatrixSets, path: dict[str, Any]) -> None:
    tms_id = path.get("tileMatrixSetId")
    z, x, y = (_int(path.get(k)) for k in ("z", "x", "y"))
    if tms_id is None or z is None or x is None or y is None:
        return
    if tms_id not in supported.tilematrixsets:
        return  # FastAPI answers 422 with the list of supported grids
    tms = supported.get(tms_id)
    if not tms.minzoom <= z <= tms.maxzoom:
        raise NotFound(f"zoom {z} is outside {tms_id} ({tms.minzoom}-{tms.maxzoom})")
    matrix = tms.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        raise NotFound(f"tile {z}/{x}/{y} is outside the {tms_id} grid")


async def _collection(catalog: Catalog, collection_id: str) -> dict[str, Any]:
    """The collection from memory, else from the database in a worker thread."""
    found = catalog.cached_collection(collection_id)
    if found is None:
        found = await run_in_threadpool(catalog.collection, collection_id)
    return found


async def item_content(
    request: Request,
    collection_id: Annotated[str, Path(description="Mask collection id")],
    item_id: Annotated[str, Path(description="Item id (the source product's id)")],
) -> dict[str, Any]:
    """The item of the path (404 if unknown); remembered on the request for its ETag.

    Answered from the catalog's memory when it can; the database is asked in a worker thread.
    """
    catalog = app_state(request).catalog
    found = catalog.cached_item(collection_id, item_id)
    if found is None:
        found = await run_in_threadpool(catalog.item, collection_id, item_id)
    collection = await _collection(catalog, collection_id)
    request.state.kappacat_item = found
    request.state.kappacat_render = default_render(collection)
    return found.content


def default_render(collection: dict[str, Any]) -> dict[str, Any]:
    """A collection's ``renders`` entry for the mask (or its first one)."""
    renders: dict[str, Any] = collection.get("renders") or {}
    entry: Any = renders.get(MASK_ASSET) or next(iter(renders.values()), {})
    return entry if isinstance(entry, dict) else {}


def default_colormap(render: dict[str, Any] | None) -> dict[int, Any]:
    """The colours of a ``renders`` entry, else the legend's."""
    colormap = (render or {}).get("colormap")
    if isinstance(colormap, dict) and colormap:
        return {int(k): tuple(v) for k, v in colormap.items()}
    return dict(legend_colormap())


async def custom_colormap(
    colormap_name: Annotated[
        str | None, Query(description="A named colormap (rio-tiler's) instead of the legend")
    ] = None,
    colormap: Annotated[
        str | None, Query(description="A JSON colormap instead of the legend colours")
    ] = None,
) -> ColorMapType | None:
    """A colormap the client asked for, if any (titiler's parsing)."""
    if colormap_name is not None and colormap_name not in cmap.list():
        raise BadRequest(f"unknown colormap_name {colormap_name!r}")
    custom: ColorMapType | None = ColorMapParams(colormap_name=colormap_name, colormap=colormap)
    return custom


async def colormap_params(
    request: Request, custom: ColorMapType | None = Depends(custom_colormap)
) -> ColorMapType:
    """A colormap the client gave, else the collection's: legend colours, no data transparent.

    The path dependency (item or collection mosaic) left the collection's render on the
    request, so no database is needed here.
    """
    if custom:
        return custom
    return default_colormap(getattr(request.state, "kappacat_render", None))


def _render_tag(render: dict[str, Any]) -> str:
    return json.dumps(render, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=4096)
def _tile_tag(item_etag: str, render_tag: str) -> str:
    """The ETag of an item's tiles: its content, the default render, the tiler's version."""
    return hashlib.sha256(f"{item_etag}|{render_tag}|{__version__}".encode()).hexdigest()[:32]


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


async def item_tile_cache(request: Request, item: dict[str, Any] = Depends(item_content)) -> None:
    """ETag and Cache-Control of an item tile; 304 when the client's copy is current."""
    state = app_state(request)
    tag = _tile_tag(request.state.kappacat_item.etag, _render_tag(request.state.kappacat_render))
    etag = f'"{tag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={state.settings.item_cache_max_age}",
    }
    if _matches(request.headers.get("if-none-match"), etag):
        raise NotModified(headers)
    request.state.cache_headers = headers


async def mosaic_tile_cache(request: Request) -> None:
    """Cache-Control of a mosaic tile (it changes as items are published: no ETag)."""
    max_age = app_state(request).settings.mosaic_cache_max_age
    request.state.cache_headers = {"Cache-Control": f"public, max-age={max_age}"}


def mosaic_metadata(collection: dict[str, Any], bbox: list[float] | None) -> dict[str, Any]:
    """Metadata registered with a collection's mosaic: bounds, assets, renders as defaults."""
    extent = ((collection.get("extent") or {}).get("spatial") or {}).get("bbox") or [
        [-180, -90, 180, 90]
    ]
    defaults = {}
    for name, entry in (collection.get("renders") or {}).items():
        params = {k: v for k, v in entry.items() if k not in ("title", "tilematrixsets")}
        if zooms := params.pop("minmax_zoom", None):
            params["minzoom"], params["maxzoom"] = zooms
        defaults[name] = params
    metadata: dict[str, Any] = {
        "type": "mosaic",
        "name": f"Mosaic of {collection['id']}",
        "bounds": bbox or extent[0],
        "assets": [MASK_ASSET],
        "defaults": defaults,
    }
    zooms = default_render(collection).get("minmax_zoom")
    if zooms:
        metadata["minzoom"], metadata["maxzoom"] = zooms
    return metadata


async def collection_search_id(
    request: Request,
    collection_id: Annotated[str, Path(description="Mask collection id")],
    query: SearchQuery = Depends(),
) -> str:
    """Register the search of a collection mosaic (date range, bbox, filter, order)."""
    state = app_state(request)
    catalog = state.catalog
    collection = await _collection(catalog, collection_id)
    request.state.kappacat_render = default_render(collection)
    search = query.to_search(
        collection_id, state.settings.max_date_range_days, limits=state.settings.filter_limits
    )
    metadata = mosaic_metadata(collection, search.get("bbox"))
    found = catalog.cached_search(search, metadata)
    if found is None:
        found = await run_in_threadpool(catalog.register_search, search, metadata)
    return found


async def search_id_param(
    request: Request,
    search_id: Annotated[str, Path(description="Hash of a registered search")],
) -> str:
    """A registered search's id (404 if unknown)."""
    catalog = app_state(request).catalog
    if catalog.cached_search_info(search_id) is None:
        await run_in_threadpool(catalog.search_info, search_id)
    return search_id

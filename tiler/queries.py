"""Answers, not only pictures: the class at a point per item, class shares in an AOI, the legend."""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import quote

import numpy as np
import rasterio
from fastapi import APIRouter, Body, Depends, Path
from geojson_pydantic import Feature, MultiPolygon, Polygon
from pydantic import BaseModel, Field
from rasterio.features import geometry_mask
from rasterio.io import DatasetReader
from rasterio.warp import transform, transform_geom
from rasterio.windows import Window
from starlette.requests import Request
from starlette.responses import Response

from catalog.legend import LEGEND, LEGEND_BY_VALUE
from tiler.dependencies import AppState, app_state, check_limits
from tiler.errors import BROKEN_ITEM_ERRORS, BadRequest, SkippedItem, skipped_header
from tiler.options import GDAL_ENV
from tiler.rasters import borrow_mask, read_pixel
from tiler.searchparams import SearchQuery, count_vertices

ITEM_FIELDS = {
    "include": [
        "id",
        "collection",
        "bbox",
        "assets.mask.href",
        "properties.datetime",
        "properties.eo:cloud_cover",
    ]
}


class Link(BaseModel):
    """A link to the item in the STAC API."""

    rel: str
    href: str
    type: str | None = None


class LegendEntry(BaseModel):
    """One class of the mask legend."""

    value: int
    name: str
    title: str
    description: str
    color: str | None = Field(description="#rrggbb, or null for transparent")


class Legend(BaseModel):
    """The mask legend."""

    classes: list[LegendEntry]


class PointValue(BaseModel):
    """The class of one item at the point."""

    id: str
    collection: str
    datetime: str | None
    cloud_cover: float | None = Field(alias="eo:cloud_cover")
    value: int
    name: str
    title: str
    color: str | None
    links: list[Link]


class PointAnswer(BaseModel):
    """The class at a point in every item of the date range, in mosaic order."""

    coordinates: tuple[float, float]
    items: list[PointValue]
    truncated: bool = Field(description="more items matched than the limit; narrow the range")
    skipped: list[SkippedItem] = Field(
        default_factory=list, description="items left out because their mask cannot be read"
    )


class ClassShare(BaseModel):
    """Pixels of one class inside the AOI."""

    value: int
    name: str
    count: int
    percentage: float = Field(description="of all pixels inside the AOI (no data included)")


class ItemStatistics(BaseModel):
    """Class shares of one item inside the AOI."""

    id: str
    collection: str
    datetime: str | None
    cloud_cover: float | None = Field(alias="eo:cloud_cover")
    pixels: int = Field(description="pixels (10 m) whose centre lies inside the AOI")
    valid_percentage: float = Field(description="share of those with a class (not no data)")
    classes: list[ClassShare]
    links: list[Link]


class StatisticsAnswer(BaseModel):
    """Per item of the date range, the share of each class inside the AOI."""

    items: list[ItemStatistics]
    truncated: bool
    skipped: list[SkippedItem] = Field(
        default_factory=list, description="items left out because their mask cannot be read"
    )


def _item_link(state: AppState, item: dict[str, Any]) -> Link:
    base = state.settings.api_url.rstrip("/")
    collection, item_id = quote(item["collection"], safe=""), quote(item["id"], safe="")
    href = f"{base}/collections/{collection}/items/{item_id}"
    return Link(rel="item", href=href, type="application/geo+json")


def _find_items(
    state: AppState, collection_id: str, query: SearchQuery, geometry: dict[str, Any]
) -> tuple[list[dict[str, Any]], bool]:
    state.catalog.collection(collection_id)
    limits = state.settings
    search = query.to_search(collection_id, limits.max_date_range_days, True, limits.filter_limits)
    search.pop("bbox", None)
    search["intersects"] = geometry
    search["fields"] = ITEM_FIELDS
    return state.catalog.search_items(search, state.settings.max_query_items)


def _item_name(item: dict[str, Any]) -> str:
    return f"item {item.get('collection')}/{item.get('id')}"


def _class_at(state: AppState, item: dict[str, Any], lon: float, lat: float) -> int:
    """The class of ``item``'s mask at lon/lat (no data outside the raster)."""
    with borrow_mask(state.roots.mask_href(item), _item_name(item)) as src:
        xs, ys = transform("EPSG:4326", src.crs, [lon], [lat])
        return read_pixel(src, xs[0], ys[0])


def _class_counts(state: AppState, item: dict[str, Any], geometry: dict[str, Any]) -> np.ndarray:
    """Pixels of each legend value inside ``geometry`` (outside the raster counts as no data)."""
    with borrow_mask(state.roots.mask_href(item), _item_name(item)) as src:
        return _count_classes(src, geometry, state.settings.max_aoi_pixels)


def _count_classes(src: DatasetReader, geometry: dict[str, Any], max_pixels: int) -> np.ndarray:
    shape = transform_geom("EPSG:4326", src.crs, geometry)
    xs = [p[0] for p in _positions(shape)]
    ys = [p[1] for p in _positions(shape)]
    t = src.transform
    col0, col1 = math.floor((min(xs) - t.c) / t.a), math.ceil((max(xs) - t.c) / t.a)
    row0, row1 = math.floor((max(ys) - t.f) / t.e), math.ceil((min(ys) - t.f) / t.e)
    width, height = max(col1 - col0, 1), max(row1 - row0, 1)
    if width * height > max_pixels:
        raise BadRequest(f"the AOI covers {width * height} mask pixels, more than {max_pixels}")
    data = np.zeros((height, width), dtype=np.uint8)
    c0, r0 = max(col0, 0), max(row0, 0)
    c1, r1 = min(col1, src.width), min(row1, src.height)
    if c1 > c0 and r1 > r0:
        part = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
        data[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = part
    window_transform = src.window_transform(Window(col0, row0, width, height))
    inside = geometry_mask([shape], (height, width), window_transform, invert=True)
    return np.bincount(data[inside], minlength=len(LEGEND))


def _positions(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], (int, float)):
            out.append((float(coords[0]), float(coords[1])))
        else:
            for c in coords:
                walk(c)

    walk(geometry["coordinates"])
    return out


def register(router: APIRouter) -> None:
    """Add the point, statistics and legend routes."""

    @router.get("/legend", response_model=Legend, tags=["Legend"])
    def legend() -> Legend:
        """The mask legend: values, names and colours."""
        return Legend(classes=[LegendEntry.model_validate(c.to_json()) for c in LEGEND])

    @router.get(
        "/collections/{collection_id}/point/{lon},{lat}",
        response_model=PointAnswer,
        response_model_by_alias=True,
        tags=["Queries"],
        dependencies=[Depends(check_limits)],
    )
    def point(
        request: Request,
        response: Response,
        collection_id: Annotated[str, Path(description="Mask collection id")],
        lon: Annotated[float, Path(ge=-180, le=180)],
        lat: Annotated[float, Path(ge=-90, le=90)],
        query: SearchQuery = Depends(),
    ) -> PointAnswer:
        """The class at lon/lat in every item of the date range, in the mosaic's order; items
        whose mask cannot be read are listed under ``skipped``."""
        state = app_state(request)
        geometry = {"type": "Point", "coordinates": [lon, lat]}
        items, truncated = _find_items(state, collection_id, query, geometry)
        values, skipped = [], []
        with rasterio.Env(**GDAL_ENV):
            for item in items:
                try:
                    value = _class_at(state, item, lon, lat)
                except BROKEN_ITEM_ERRORS as exc:
                    skipped.append(SkippedItem.of(item, exc))
                    continue
                cls = LEGEND_BY_VALUE.get(value, LEGEND[0])
                props = item.get("properties") or {}
                values.append(
                    PointValue.model_validate(
                        {
                            "id": item["id"],
                            "collection": item["collection"],
                            "datetime": props.get("datetime"),
                            "eo:cloud_cover": props.get("eo:cloud_cover"),
                            "value": value,
                            "name": cls.name,
                            "title": cls.title,
                            "color": cls.color or None,
                            "links": [_item_link(state, item)],
                        }
                    )
                )
        response.headers.update(skipped_header(skipped))
        return PointAnswer(
            coordinates=(lon, lat), items=values, truncated=truncated, skipped=skipped
        )

    @router.post(
        "/collections/{collection_id}/statistics",
        response_model=StatisticsAnswer,
        response_model_by_alias=True,
        tags=["Queries"],
        dependencies=[Depends(check_limits)],
    )
    def statistics(
        request: Request,
        response: Response,
        collection_id: Annotated[str, Path(description="Mask collection id")],
        aoi: Annotated[
            Feature[Polygon | MultiPolygon, Any] | Polygon | MultiPolygon,
            Body(description="The AOI: a GeoJSON Polygon or MultiPolygon, or a Feature of one"),
        ],
        query: SearchQuery = Depends(),
    ) -> StatisticsAnswer:
        """Per item of the date range, the share of each class inside the AOI."""
        state = app_state(request)
        geom = aoi.geometry if isinstance(aoi, Feature) else aoi
        if geom is None:
            raise BadRequest("the Feature has no geometry")
        geometry = geom.model_dump(exclude_none=True)
        vertices = count_vertices(geometry)
        if vertices > state.settings.max_polygon_vertices:
            raise BadRequest(
                f"the AOI has {vertices} vertices, more than {state.settings.max_polygon_vertices}"
            )
        items, truncated = _find_items(state, collection_id, query, geometry)
        answers, skipped = [], []
        with rasterio.Env(**GDAL_ENV):
            for item in items:
                try:
                    counts = _class_counts(state, item, geometry)
                except BROKEN_ITEM_ERRORS as exc:
                    skipped.append(SkippedItem.of(item, exc))
                    continue
                total = int(counts.sum())
                props = item.get("properties") or {}
                shares = [
                    ClassShare(
                        value=c.value,
                        name=c.name,
                        count=int(counts[c.value]),
                        percentage=round(100 * counts[c.value] / total, 4) if total else 0,
                    )
                    for c in LEGEND
                ]
                answers.append(
                    ItemStatistics.model_validate(
                        {
                            "id": item["id"],
                            "collection": item["collection"],
                            "datetime": props.get("datetime"),
                            "eo:cloud_cover": props.get("eo:cloud_cover"),
                            "pixels": total,
                            "valid_percentage": round(100 * (total - counts[0]) / total, 4)
                            if total
                            else 0,
                            "classes": shares,
                            "links": [_item_link(state, item)],
                        }
                    )
                )
        response.headers.update(skipped_header(skipped))
        return StatisticsAnswer(items=answers, truncated=truncated, skipped=skipped)

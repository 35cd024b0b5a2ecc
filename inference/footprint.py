"""Product footprints: GeoJSON in WGS84 (split at the antimeridian) and masks on UTM grids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.features import rasterize
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry

from inference.grid import Grid


@dataclass(frozen=True)
class Footprint:
    """A footprint as one continuous WGS84 geometry (longitudes may pass 180)."""

    continuous: BaseGeometry

    @classmethod
    def from_ring(cls, lonlat: list[tuple[float, float]]) -> Footprint:
        """From a (lon, lat) ring such as SAFE's EXT_POS_LIST; unwraps antimeridian crossings."""
        lons = [lon for lon, _ in lonlat]
        if max(lons) - min(lons) > 180:
            lonlat = [(lon + 360 if lon < 0 else lon, lat) for lon, lat in lonlat]
        return cls(Polygon(lonlat).buffer(0))

    @classmethod
    def from_geojson(cls, geometry: dict[str, Any]) -> Footprint:
        """From a GeoJSON geometry (e.g. a STAC item's), rejoining parts split at 180."""
        geom = shape(geometry)
        parts = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
        lons = [x for p in parts for x, _ in p.exterior.coords]
        if max(lons) - min(lons) > 180:  # split at the antimeridian: move the west part east
            parts = [affinity.translate(p, 360) if p.bounds[2] <= 0 else p for p in parts]
            geom = MultiPolygon(parts).buffer(0)
        return cls(geom)

    @property
    def geojson(self) -> dict[str, Any]:
        """The footprint as an RFC 7946 GeoJSON geometry (MultiPolygon when it crosses 180)."""
        geom = self.continuous
        if geom.bounds[2] <= 180 and geom.bounds[0] >= -180:
            return dict(mapping(geom))
        west = geom.intersection(box(-180, -90, 180, 90))
        east = affinity.translate(geom.intersection(box(180, -90, 540, 90)), -360)
        polys = [g for part in (west, east) for g in getattr(part, "geoms", [part])]
        polys = [p for p in polys if isinstance(p, Polygon) and not p.is_empty]
        return dict(mapping(MultiPolygon(polys)))

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north); west > east when the footprint crosses 180."""
        minx, miny, maxx, maxy = self.continuous.bounds
        if maxx > 180:
            maxx -= 360
        return (minx, miny, maxx, maxy)

    def in_crs(self, crs: CRS) -> BaseGeometry:
        """The footprint projected to a grid's CRS."""
        transformer = Transformer.from_crs("EPSG:4326", crs.to_wkt(), always_xy=True)
        return shapely.transform(self.continuous, transformer.transform, interleaved=False)


class FootprintMask:
    """Rasterises a footprint on rows of a grid (1 inside, 0 outside)."""

    def __init__(self, footprint: Footprint, grid: Grid) -> None:
        self.grid = grid
        self.geometry = footprint.in_crs(grid.crs)

    def overlaps_grid(self) -> bool:
        """Whether the footprint covers any part of the grid."""
        return bool(self.geometry.intersects(box(*self.grid.bounds)))

    def rows(self, row0: int, row1: int, grid: Grid | None = None) -> np.ndarray:
        """Boolean mask of rows [row0, row1) of ``grid`` (default: the mask's grid)."""
        grid = grid or self.grid
        out_shape = (row1 - row0, grid.width)
        if self.geometry.is_empty:
            return np.zeros(out_shape, dtype=bool)
        burned = rasterize(
            [(self.geometry, 1)],
            out_shape=out_shape,
            transform=grid.rows_transform(row0),
            fill=0,
            dtype="uint8",
        )
        return burned.astype(bool)

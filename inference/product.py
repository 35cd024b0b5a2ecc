"""What the catalogue needs to know about a source Sentinel-2 product and about a mask."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from catalog.legend import CLASSES, NODATA, VALID, cloud_percent


@dataclass(frozen=True)
class ProductInfo:
    """Metadata of a source Sentinel-2 product, as read by a reader."""

    id: str  # product id, e.g. S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248
    level: str  # "L1C" or "L2A"
    datetime: datetime  # sensing start, timezone-aware UTC
    footprint: dict[str, Any]  # GeoJSON geometry in WGS84 (lon/lat) of the valid data
    bbox: tuple[float, float, float, float]  # WGS84 bounds of the footprint
    platform: str  # "sentinel-2a", "sentinel-2b", "sentinel-2c"
    mgrs_tile: str  # e.g. "46RER"
    relative_orbit: int
    processing_baseline: str  # e.g. "05.09"
    epsg: int  # UTM EPSG code of the product grid
    sun_azimuth: float | None = None
    sun_elevation: float | None = None
    href: str = ""  # where the product was read from (SAFE path, zip, STAC item URL)
    source_item_href: str | None = None  # the source's STAC item, if it came from one
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MaskResult:
    """A finished mask COG and its statistics."""

    path: Path  # the COG
    product: ProductInfo
    class_counts: dict[int, int]  # legend value -> pixel count (value 0 included)
    model_id: str  # the model card's id
    model_card: dict[str, Any]  # the card as a dict, recorded in the item
    thumbnail_path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)  # stage name -> seconds
    extra: dict[str, Any] = field(default_factory=dict)  # run details: resolution, tiles, providers

    @property
    def valid_pixels(self) -> int:
        """Pixels of valid observations; missing input and no data excluded."""
        return sum(n for v, n in self.class_counts.items() if v in VALID)

    @property
    def class_percentages(self) -> dict[int, float]:
        """Share of each class in percent of the pixels inside the footprint."""
        total = sum(n for v, n in self.class_counts.items() if v != NODATA)
        if total == 0:
            return dict.fromkeys(CLASSES, 0.0)
        return {v: 100.0 * self.class_counts.get(v, 0) / total for v in CLASSES}

    @property
    def cloud_cover(self) -> float:
        """Cloud and semi-transparent cloud, in percent of the valid pixels (eo:cloud_cover)."""
        return cloud_percent(self.class_counts)

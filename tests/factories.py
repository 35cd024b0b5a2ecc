"""Real mask COGs and mask items for catalogue tests, made without running a model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.crs import CRS

from inference.grid import Grid
from inference.product import MaskResult, ProductInfo
from inference.writer import write_mask_cog as write_production_cog
from ingest.items import build_mask_item, item_dict

# An MGRS tile in UTM zone 32N (south Germany): origin and its WGS84 footprint, roughly.
UTM32_ORIGIN = (600000.0, 5300040.0)


def write_mask_cog(path: Path, size: int = 512, seed: int = 0) -> np.ndarray:
    """Write a COG of blobs of every legend class, with a no-data corner; returns the array."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, 6, size=(size // 32 + 1, size // 32 + 1), dtype=np.uint8)
    data = np.kron(coarse, np.ones((32, 32), dtype=np.uint8))[:size, :size].copy()
    yy, xx = np.mgrid[0:size, 0:size]
    data[xx + yy < size // 4] = 0  # no-data corner as at a swath edge
    write_test_cog(path, data)
    return data


def write_test_cog(path: Path, data: np.ndarray) -> None:
    """``data`` as the pipeline writes a mask COG, on the test grid at :data:`UTM32_ORIGIN`."""
    height, width = data.shape
    grid = Grid(CRS.from_epsg(32632), *UTM32_ORIGIN, 10.0, width, height)
    write_production_cog(data, grid, path)


def product_info(
    index: int, *, level: str = "L1C", when: datetime | None = None, lon: float = 10.0
) -> ProductInfo:
    """Plausible metadata of a Sentinel-2 product, varied by ``index``."""
    when = when or datetime(2023, 6, 1, 10, 30, tzinfo=UTC) + timedelta(days=index)
    lat = 47.8
    box = (lon, lat, lon + 0.07, lat + 0.05)
    footprint = {
        "type": "Polygon",
        "coordinates": [
            [
                [box[0], box[1]],
                [box[2], box[1]],
                [box[2], box[3]],
                [box[0], box[3]],
                [box[0], box[1]],
            ]
        ],
    }
    stamp = when.strftime("%Y%m%dT%H%M%S")
    baseline = "05.09" if level == "L2A" else "04.00"
    orbit = 22 + index % 100
    return ProductInfo(
        id=f"S2B_MSI{level}_{stamp}_N{baseline.replace('.', '')}_R{orbit:03d}_T32UPU_{stamp}",
        level=level,
        datetime=when,
        footprint=footprint,
        bbox=box,
        platform="sentinel-2b" if index % 2 else "sentinel-2a",
        mgrs_tile="32UPU",
        relative_orbit=orbit,
        processing_baseline=baseline,
        epsg=32632,
        sun_azimuth=150.0 + index % 20,
        sun_elevation=55.0,
        href=f"/eodata/Sentinel-2/MSI/{level}/{stamp}.SAFE",
    )


def mask_item(
    cog: Path, data: np.ndarray, index: int, *, level: str = "L1C", **kwargs: Any
) -> dict[str, Any]:
    """A mask item for ``cog`` whose class counts are varied by ``index``.

    The counts come from the array; with ``index`` > 0 a share of clear pixels is moved to
    cloud so that items differ in ``eo:cloud_cover`` (the COG is shared to keep tests fast).
    """
    values, counts = np.unique(data, return_counts=True)
    class_counts = {int(v): int(n) for v, n in zip(values, counts, strict=True)}
    moved = (class_counts.get(1, 0) * (index % 10)) // 10
    class_counts[1] = class_counts.get(1, 0) - moved
    class_counts[4] = class_counts.get(4, 0) + moved
    result = MaskResult(
        path=cog,
        product=product_info(index, level=level, **kwargs),
        class_counts=class_counts,
        model_id="ukis-csmask-6b-l1c",
        model_card={"id": "ukis-csmask-6b-l1c"},
    )
    return item_dict(build_mask_item(result, f"https://example.test/masks/{index}.tif"))

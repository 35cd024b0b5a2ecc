"""Data for the tile benchmark: full-size mask COGs of four products, published into pgstac.

Two neighbouring MGRS tiles (UTM 32N) on two days: every mosaic tile between them is drawn
from up to four items. The COGs are cached under ``bench/.cache/tiles`` between runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import rasterio
from psycopg import sql
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from catalog.collections import L1C, collection_dicts
from catalog.settings import DatabaseSettings, with_database
from catalog.stac_validation import StacValidator
from inference.grid import Grid
from inference.product import MaskResult, ProductInfo
from inference.settings import DEFAULT_COMPRESSION
from inference.writer import write_mask_cog
from ingest.items import build_mask_item, item_dict
from ingest.publish import publish_items, upsert_collections
from kappacat.migrate import migrate

SIZE = 10980
BLOB = 48  # pixels a side of one class blob (480 m)
ORIGINS = {"32UPU": (600000.0, 5300040.0), "32UQU": (699960.0, 5300040.0)}
DAYS = (datetime(2023, 6, 1, 10, 30, tzinfo=UTC), datetime(2023, 6, 2, 10, 40, tzinfo=UTC))
DATETIME = "2023-06-01T00:00:00Z/2023-06-02T23:59:59Z"
COLLECTION = L1C


def mask_array(seed: int, size: int = SIZE) -> np.ndarray:
    """Blobs of every legend class and a no-data triangle along a swath edge."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, 6, size=(size // BLOB + 1, size // BLOB + 1), dtype=np.uint8)
    data = np.kron(coarse, np.ones((BLOB, BLOB), dtype=np.uint8))[:size, :size].copy()
    edge = size // 4
    for row in range(edge):
        data[row, : edge - row] = 0
    return data


def write_cog(path: Path, data: np.ndarray, origin: tuple[float, float]) -> None:
    """A mask COG exactly as the pipeline writes them (its writer, its default codec)."""
    height, width = data.shape
    grid = Grid(CRS.from_epsg(32632), *origin, 10.0, width, height)
    write_mask_cog(data, grid, path)


def product(tile: str, day: datetime, cog: Path, index: int) -> ProductInfo:
    """Metadata of a synthetic product whose footprint is its COG's bounds."""
    with rasterio.open(cog) as src:
        b = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    ring = [[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]]
    stamp = day.strftime("%Y%m%dT%H%M%S")
    return ProductInfo(
        id=f"S2A_MSIL1C_{stamp}_N0509_R065_T{tile}_{stamp}",
        level="L1C",
        datetime=day,
        footprint={"type": "Polygon", "coordinates": [ring]},
        bbox=b,
        platform="sentinel-2a",
        mgrs_tile=tile,
        relative_orbit=65,
        processing_baseline="05.09",
        epsg=32632,
        href=f"/eodata/{stamp}.SAFE",
    )


def make_items(cache: Path) -> list[dict[str, Any]]:
    """The four COGs (written once) and their items."""
    cache.mkdir(parents=True, exist_ok=True)
    items = []
    for index, (day, tile) in enumerate((d, t) for d in DAYS for t in ORIGINS):
        # the codec in the name: COGs cached before a change of the pipeline's are made again
        cog = cache / f"{tile}_{day:%Y%m%d}.{DEFAULT_COMPRESSION.lower()}.tif"
        data = None
        if not cog.is_file():
            data = mask_array(seed=index)
            write_cog(cog, data, ORIGINS[tile])
        if data is None:
            with rasterio.open(cog) as src:
                data = src.read(1)
        values, counts = np.unique(data, return_counts=True)
        result = MaskResult(
            path=cog,
            product=product(tile, day, cog, index),
            class_counts={int(v): int(n) for v, n in zip(values, counts, strict=True)},
            model_id="bench",
            model_card={"id": "bench"},
        )
        items.append(item_dict(build_mask_item(result, str(cog.resolve()))))
    return items


def prepare_database(
    admin_url: str, name: str, items: list[dict[str, Any]], schemas: Path | None
) -> DatabaseSettings:
    """A fresh database ``name`` with both collections and the items."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    settings = DatabaseSettings(url=with_database(admin_url, name))
    migrate(settings)
    upsert_collections(settings.url, collection_dicts())
    publish_items(settings.url, {"bench": items}, StacValidator(schemas))
    return settings


def drop_database(admin_url: str, name: str) -> None:
    """Remove the benchmark database."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

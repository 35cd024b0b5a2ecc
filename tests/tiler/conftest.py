"""Fixtures for tiler tests: real mask COGs under a storage root, published into a real pgstac."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from rasterio.warp import transform_bounds

from catalog.settings import DatabaseSettings, with_database
from catalog.stac_validation import StacValidator
from inference.product import MaskResult
from ingest.items import build_mask_item, item_dict
from ingest.publish import publish_items
from tests.database import create_database, drop_database
from tests.factories import product_info, write_mask_cog
from tests.factories import write_test_cog as write_cog
from tiler import TilerSettings, create_app

COLLECTION = "sentinel-2-l1c-kappamask"
SIZE = 512
JUNE = "2023-06-01/2023-06-30"


def footprint(cog: Path, cols: tuple[int, int] = (0, SIZE)) -> dict[str, Any]:
    """WGS84 polygon of the COG's columns ``cols`` (the valid-data area of a swath)."""
    with rasterio.open(cog) as src:
        t = src.transform
        west, east = t.c + cols[0] * t.a, t.c + cols[1] * t.a
        b = transform_bounds(src.crs, "EPSG:4326", west, src.bounds.bottom, east, src.bounds.top)
    ring = [[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]]
    return {"type": "Polygon", "coordinates": [ring]}


def cog_item(
    cog: Path,
    data: np.ndarray,
    index: int,
    when: datetime,
    *,
    href: str | None = None,
    geometry: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A valid mask item whose mask asset is ``href`` (default: the local COG path)."""
    geometry = geometry or footprint(cog)
    xs = [p[0] for p in geometry["coordinates"][0]]
    ys = [p[1] for p in geometry["coordinates"][0]]
    product = dataclasses.replace(
        product_info(index, when=when),
        footprint=geometry,
        bbox=(min(xs), min(ys), max(xs), max(ys)),
    )
    values, counts = np.unique(data, return_counts=True)
    result = MaskResult(
        path=cog,
        product=product,
        class_counts={int(v): int(n) for v, n in zip(values, counts, strict=True)},
        model_id="ukis-csmask-6b-l1c",
        model_card={"id": "ukis-csmask-6b-l1c"},
    )
    return item_dict(build_mask_item(result, href or str(cog)))


@dataclass
class TilerData:
    """What the tiler tests read: the database, the storage root and the published items."""

    database: DatabaseSettings
    root: Path
    cogs: dict[str, Path]
    arrays: dict[str, np.ndarray]
    items: dict[str, dict[str, Any]]

    def item_id(self, name: str) -> str:
        """The id of a named item (a, b, outside, url, traversal)."""
        return str(self.items[name]["id"])


def reader_settings(admin: DatabaseSettings) -> DatabaseSettings:
    """The same database, read through the read-only role ``kappacat_read``."""
    parts = urlsplit(admin.url)
    netloc = f"{admin.read_role}@{parts.hostname}:{parts.port or 5432}"
    read_url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return DatabaseSettings(url=admin.url, read_url=read_url)


@pytest.fixture(scope="session")
def tiler_validator(shared_data: Path) -> StacValidator:
    """Offline STAC validation for publishing test items."""
    return StacValidator(shared_data / "stac-schemas")


def make_items(
    root: Path, elsewhere: Path
) -> tuple[dict[str, Path], dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Two overlapping masks in June (b has data only in its right half) and three items whose
    mask is outside the storage root (July)."""
    cogs = {"a": root / "a.tif", "b": root / "b.tif", "outside": elsewhere / "c.tif"}
    arrays = {"a": write_mask_cog(cogs["a"], SIZE, seed=0)}
    b = write_mask_cog(root / "b_full.tif", SIZE, seed=1)
    b[:, : SIZE // 2] = 0
    write_cog(cogs["b"], b)
    arrays["b"] = b
    arrays["outside"] = write_mask_cog(cogs["outside"], SIZE, seed=2)
    june1 = datetime(2023, 6, 1, 10, 30, tzinfo=UTC)
    items = {
        "a": cog_item(cogs["a"], arrays["a"], 0, june1),
        "b": cog_item(
            cogs["b"], b, 1, june1.replace(day=2), geometry=footprint(cogs["b"], (SIZE // 2, SIZE))
        ),
        "outside": cog_item(cogs["outside"], arrays["outside"], 2, june1.replace(month=7)),
        "url": cog_item(
            cogs["a"],
            arrays["a"],
            3,
            june1.replace(month=7, day=2),
            href="https://evil.example.test/masks/a.tif",
        ),
        "traversal": cog_item(
            cogs["a"],
            arrays["a"],
            4,
            june1.replace(month=7, day=3),
            href=f"{root}/../elsewhere/c.tif",
        ),
    }
    return cogs, arrays, items


@contextlib.contextmanager
def published_masks(
    admin: str, template: str, base: Path, validator: StacValidator, name: str
) -> Iterator[TilerData]:
    """A fresh catalogue database (``kappacat_NAME_...``) with the tiler tests' mask items
    published, their COGs in ``base``; dropped on exit."""
    root, elsewhere = base / "storage", base / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    cogs, arrays, items = make_items(root, elsewhere)
    dbname = f"kappacat_{name}_{uuid.uuid4().hex[:10]}"
    create_database(admin, dbname, template=template)
    try:
        database = reader_settings(DatabaseSettings(url=with_database(admin, dbname)))
        publish_items(database.url, {name: list(items.values())}, validator)
        yield TilerData(database, root, cogs, arrays, items)
    finally:
        drop_database(admin, dbname)


@pytest.fixture(scope="session")
def tiler_data(
    pg_admin_url: str,
    template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
    tiler_validator: StacValidator,
) -> Iterator[TilerData]:
    """One database with published mask items, shared by the read-only tiler tests."""
    base = tmp_path_factory.mktemp("tiler")
    with published_masks(pg_admin_url, template_database, base, tiler_validator, "tiler") as data:
        yield data


def tiler_settings(data: TilerData, **overrides: Any) -> TilerSettings:
    """Settings of a test tiler reading from the data's storage root."""
    values: dict[str, Any] = {
        "storage_roots": [str(data.root)],
        "api_url": "https://stac.example.test/api",
        "pool_max_size": 4,
    }
    return TilerSettings(**{**values, **overrides})


@pytest.fixture(scope="session")
def client(tiler_data: TilerData) -> Iterator[TestClient]:
    """The tiler app over the shared data (in process, lifespan run)."""
    app = create_app(tiler_settings(tiler_data), tiler_data.database)
    with TestClient(app) as test_client:
        yield test_client

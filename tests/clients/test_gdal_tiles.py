"""The README's GDAL/QGIS recipes, run as written there against ``kappacat serve tiler``: GDAL's
XYZ (the WMS driver's TMS description, 256 px blocks) and WMTS connection read real masks in
legend colours where the masks are, and log no error over places without masks."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform, transform_bounds
from rasterio.windows import from_bounds

from catalog.settings import DatabaseSettings, with_database
from catalog.stac_validation import StacValidator
from ingest.publish import publish_items
from tests.database import create_database, drop_database
from tests.factories import UTM32_ORIGIN
from tests.servers import REPO, serve
from tests.tiler.conftest import COLLECTION, make_items, reader_settings
from tests.tiler.pixels import certain_classes, legend_rgba

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README_COLLECTION = "sentinel-2-l2a-kappamask"
HOST = "http://HOST:8082"
GDAL_LOGGER = "rasterio"
"""Where rasterio sends GDAL's messages: warnings and errors on ``rasterio._env``, and every
error GDAL signals ("GDAL signalled an error: ...", at INFO) on ``rasterio._err``."""
WMS_CACHE = "GDAL_DEFAULT_WMS_CACHE_PATH"
"""GDAL keeps downloaded tiles in a cache (``~/.cache/gdalwmscache`` by default), as in QGIS;
the reads here keep theirs in a temporary folder (they look the same: the cache is where a
204 made GDAL fail, "Unable to open downloaded block")."""


@dataclass
class Served:
    """The running tiler and the masks it draws (``b`` over ``a``: the newest on top)."""

    url: str
    layers: list[np.ndarray]


@pytest.fixture(scope="module")
def served(
    pg_admin_url: str,
    template_database: str,
    shared_data: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """Two real mask COGs published into a fresh catalogue, and a tiler process serving them;
    GDAL's tile cache in a temporary folder meanwhile."""
    base = tmp_path_factory.mktemp("gdal")
    root, elsewhere = base / "storage", base / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    _, arrays, items = make_items(root, elsewhere)
    name = f"kappacat_gdal_{uuid.uuid4().hex[:10]}"
    create_database(pg_admin_url, name, template=template_database)
    try:
        database = reader_settings(DatabaseSettings(url=with_database(pg_admin_url, name)))
        june = [items["a"], items["b"]]
        publish_items(database.url, {"gdal": june}, StacValidator(shared_data / "stac-schemas"))
        env = {
            "KAPPACAT_DATABASE_URL": database.url,
            "KAPPACAT_DATABASE_READ_URL": database.reader_url,
            "KAPPACAT_TILER_STORAGE_ROOTS": str(root),
        }
        cache = str(tmp_path_factory.mktemp("gdalwmscache"))
        with serve("tiler", env, "/healthz") as url, rasterio.Env(**{WMS_CACHE: cache}):
            yield Served(url, [arrays["b"], arrays["a"]])
    finally:
        drop_database(pg_admin_url, name)


def readme_recipes() -> tuple[str, str]:
    """The WMTS connection string and the XYZ description of the README's tiles section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Tiles and the web map") : text.index("## Models")]
    wmts = re.search(r"```text\n(WMTS:[^\n]+)\n```", section)
    xyz = re.search(r"```xml\n(<GDAL_WMS>.*?</GDAL_WMS>)\n```", section, re.DOTALL)
    assert wmts and xyz, "the README's GDAL recipes are not where this test looks for them"
    return wmts.group(1), xyz.group(1)


def as_served(recipe: str, served: Served) -> str:
    """A README recipe for the test tiler and the test collection."""
    return recipe.replace(HOST, served.url).replace(README_COLLECTION, COLLECTION)


def read_rgba(source: str, bounds_4326: tuple[float, float, float, float], width: int):
    """RGBA pixels GDAL reads from ``source`` over a lon/lat box, and each pixel's centre
    in the masks' UTM grid (fractional row, col)."""
    with rasterio.open(source) as dataset:
        assert dataset.count == 4
        west, south, east, north = transform_bounds("EPSG:4326", dataset.crs, *bounds_4326)
        window = from_bounds(west, south, east, north, transform=dataset.transform)
        height = max(1, round(width * (north - south) / (east - west)))
        rgba = dataset.read(window=window, out_shape=(4, height, width))
        step_x, step_y = (east - west) / width, (north - south) / height
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    xs, ys = west + cols * step_x, north - rows * step_y
    ux, uy = transform(dataset.crs, "EPSG:32632", xs.ravel().tolist(), ys.ravel().tolist())
    col = ((np.array(ux) - UTM32_ORIGIN[0]) / 10.0).reshape(height, width)
    row = ((UTM32_ORIGIN[1] - np.array(uy)) / 10.0).reshape(height, width)
    return rgba, row, col


def mask_bounds() -> tuple[float, float, float, float]:
    """Lon/lat box of the test masks (512 px of 10 m from UTM32_ORIGIN)."""
    x, y = UTM32_ORIGIN
    return transform_bounds("EPSG:32632", "EPSG:4326", x, y - 5120, x + 5120, y)


def assert_masks_in_legend_colours(source: str, served: Served) -> None:
    rgba, row, col = read_rgba(source, mask_bounds(), 600)
    # margin in source pixels: GDAL picks an overview level a little coarser than asked
    expected, certain = certain_classes(served.layers, row, col, margin=1.5)
    assert certain.mean() > 0.5
    want = legend_rgba(expected)
    assert np.array_equal(rgba[:, certain], want[:, certain])
    shown = set(np.unique(expected[certain]).tolist()) - {0}
    assert shown == {1, 2, 3, 4, 5}  # every class of the legend, each in its colour


def read_empty_area(source: str, caplog: pytest.LogCaptureFixture) -> np.ndarray:
    """GDAL's pixels over a place without masks, failing on any GDAL warning or error."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=GDAL_LOGGER):
        rgba, _, _ = read_rgba(source, (-3.8, 40.35, -3.6, 40.45), 256)  # Madrid
    problems = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING or "signalled an error" in r.getMessage()
    ]
    assert problems == []  # a 204 made GDAL log "Unable to open downloaded block" here
    return rgba


def test_gdal_xyz_as_the_readme_says_reads_the_masks(served: Served):
    _, xyz = readme_recipes()
    assert_masks_in_legend_colours(as_served(xyz, served), served)


def test_gdal_wmts_as_the_readme_says_reads_the_masks(served: Served):
    wmts, _ = readme_recipes()
    assert_masks_in_legend_colours(as_served(wmts, served), served)


def test_gdal_reads_places_without_masks_as_transparent_without_errors(
    served: Served, caplog: pytest.LogCaptureFixture
):
    wmts, xyz = readme_recipes()
    for recipe in (xyz, wmts):
        rgba = read_empty_area(as_served(recipe, served), caplog)
        assert (rgba[3] == 0).all()

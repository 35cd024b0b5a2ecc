"""Readers of the three source kinds: SAFE directory, SAFE zip, STAC item with COG assets."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio

from inference import open_product
from inference.errors import InferenceError, ProductError, SourceUnavailableError
from inference.readers import ProductReader
from inference.readers.stac import gdal_href
from inference.sample import SampleProduct
from tests.httpfiles import serve_directory
from tests.servers import free_port

UKIS_BANDS = ["B02", "B03", "B04", "B08", "B11", "B12"]


def _raw_dn(reader: ProductReader, band: str, resolution: float) -> np.ndarray:
    with rasterio.open(reader.band_file(band, resolution).path) as ds:
        return ds.read(1)


def test_safe_directory_metadata(sample_l1c: SampleProduct) -> None:
    with open_product(sample_l1c.path) as product:
        info = product.info
        assert info.id == sample_l1c.product_id
        assert (info.level, info.processing_baseline, info.platform) == (
            "L1C",
            "05.09",
            "sentinel-2a",
        )
        assert (info.mgrs_tile, info.epsg) == ("32UQD", 32632)
        assert info.relative_orbit > 0
        assert info.datetime.tzinfo is not None
        assert info.sun_azimuth is not None and 0 < (info.sun_elevation or 0) < 90
        assert info.footprint["type"] == "Polygon"
        west, south, east, north = info.bbox
        assert west < east and south < north
        assert (product.grid.width, product.grid.height, product.grid.res) == (1098, 1098, 10.0)
        assert product.grid.crs.to_epsg() == 32632
        assert info.extra["quantification_value"] == 10000
        assert info.extra["offsets"]["B02"] == -1000


@pytest.mark.parametrize("fixture, offset", [("sample_l1c", -1000), ("sample_old_baseline", 0)])
def test_reflectance_uses_the_products_offset(
    fixture: str, offset: int, request: pytest.FixtureRequest
) -> None:
    sample: SampleProduct = request.getfixturevalue(fixture)
    with open_product(sample.path) as product:
        refl, valid = product.read(["B04"], 0, product.grid.height, resolution=10)
        dn = _raw_dn(product, "B04", 10)
    expected = (dn.astype(np.float64) + offset) / 10000
    assert valid.shape == dn.shape
    assert np.array_equal(valid, dn > 0)
    np.testing.assert_allclose(refl[0][valid], expected[valid], atol=1e-6)


def test_l2a_baseline_0400_uses_boa_offset_and_coarser_files(sample_l2a: SampleProduct) -> None:
    with open_product(sample_l2a.path) as product:
        assert (product.info.level, product.info.processing_baseline) == ("L2A", "04.00")
        assert product.band_file("B02", 30).resolution == 20  # the R20m file, not R10m
        assert product.band_file("B02", 10).resolution == 10
        at_30_from_20, ok = product.read(["B02"], 0, 182, resolution=30)
        dn10 = _raw_dn(product, "B02", 10).astype(np.float64)
    refl10 = (dn10 - 1000) / 10000
    from_10 = refl10.reshape(182, 3, 182, 3).mean(axis=(1, 3))
    both = ok & (dn10.reshape(182, 3, 182, 3).min(axis=(1, 3)) > 0)
    assert np.abs(at_30_from_20[0][both] - from_10[both]).mean() < 0.01


def test_windows_read_the_same_as_the_whole(sample_l1c: SampleProduct) -> None:
    with open_product(sample_l1c.path) as product:
        reader = product.window_reader(UKIS_BANDS, 30.0, threads=2)
        with reader:
            whole, whole_ok = reader.read(0, 366)
            parts = [reader.read(a, b) for a, b in ((0, 101), (101, 102), (102, 366))]
    assert whole.shape == (6, 366, 366)
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts], axis=1), whole)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts], axis=0), whole_ok)
    assert 0.5 < whole_ok.mean() < 1.0  # the generated no-data corner


def test_safe_zip_reads_like_the_directory(sample_l1c: SampleProduct, sample_zip: Path) -> None:
    with open_product(sample_l1c.path) as safe, open_product(sample_zip) as zipped:
        assert zipped.info.id == safe.info.id
        assert zipped.info.footprint == safe.info.footprint
        assert zipped.band_file("B11", 30).path.startswith("/vsizip/")
        a, a_ok = safe.read(UKIS_BANDS, 100, 200, resolution=30)
        b, b_ok = zipped.read(UKIS_BANDS, 100, 200, resolution=30)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a_ok, b_ok)


def test_stac_item_with_cog_assets(sample_stac: SampleProduct, sample_l1c: SampleProduct) -> None:
    with open_product(sample_stac.path) as stac, open_product(sample_l1c.path) as safe:
        info = stac.info
        assert info.id == sample_stac.product_id
        assert (info.level, info.mgrs_tile, info.epsg) == ("L1C", "32UQD", 32632)
        assert info.processing_baseline == "05.09"
        assert info.source_item_href and info.sun_elevation is not None
        assert stac.grid == safe.grid
        assert set(UKIS_BANDS) <= set(stac.files)
        a, a_ok = stac.read(UKIS_BANDS, 0, 366, resolution=30)
        b, b_ok = safe.read(UKIS_BANDS, 0, 366, resolution=30)
    # the same generated scene, scaled by raster:bands scale/offset instead of the MTD; the
    # COG overviews (averages) and JPEG 2000 resolution levels (wavelets) differ a little
    both = a_ok & b_ok
    assert both.mean() > 0.5
    difference = np.abs(a[:, both] - b[:, both])
    assert difference.mean() < 0.003
    assert np.percentile(difference, 99) < 0.02


def test_stac_item_with_cdse_style_keys(sample_stac: SampleProduct, tmp_path: Path) -> None:
    item = json.loads(sample_stac.path.read_text())
    base = sample_stac.path.parent
    renamed = {}
    for key, asset in item["assets"].items():
        asset["href"] = str((base / asset["href"]).resolve())
        name = {"blue": "B02_10m", "green": "B03_10m", "red": "B04_10m", "nir": "B08_10m"}.get(key)
        renamed[name or key] = asset
    item["assets"] = renamed
    path = tmp_path / "cdse.json"
    path.write_text(json.dumps(item))
    with open_product(path) as product:
        assert product.band_file("B02", 30).path.endswith("B02.tif")
        assert product.files["B02"][0].resolution == 10


@contextlib.contextmanager
def _served(sample_stac: SampleProduct, failing: dict[str, int] | None = None) -> Iterator[str]:
    """The sample item (assets relative to it) on a loopback HTTP server; yields its URL."""
    item = json.loads(sample_stac.path.read_text())
    for asset in item["assets"].values():
        asset["href"] = Path(asset["href"]).name  # relative to the item, as served
    (sample_stac.path.parent / "served.json").write_text(json.dumps(item))
    script = {path: [status] for path, status in (failing or {}).items()}
    try:
        with serve_directory(sample_stac.path.parent, script) as (base, _):
            yield f"{base}/served.json"
    finally:
        (sample_stac.path.parent / "served.json").unlink()


def test_stac_item_and_assets_over_http(sample_stac: SampleProduct, tmp_path: Path) -> None:
    with (
        _served(sample_stac) as url,
        open_product(url) as remote,
        open_product(sample_stac.path) as local,
    ):
        assert remote.band_file("B11", 30).path.startswith("/vsicurl/http://127.0.0.1")
        assert remote.info.id == local.info.id and remote.info.source_item_href == url
        a, a_ok = remote.read(["B02", "B11"], 0, 50, resolution=30)
        b, b_ok = local.read(["B02", "B11"], 0, 50, resolution=30)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a_ok, b_ok)


@pytest.mark.parametrize(
    ("failing", "error", "problem"),
    [
        ({"/served.json": 404}, ProductError, "cannot read the STAC item: HTTP 404"),
        ({"/served.json": 503}, SourceUnavailableError, "cannot read the STAC item: HTTP 503"),
        ({"/served.json": 429}, SourceUnavailableError, "HTTP 429"),
        ({"/B11.tif": 404}, ProductError, "band B11"),
        ({"/B11.tif": 503}, SourceUnavailableError, "band B11"),
    ],
    ids=["item-404", "item-503", "item-429", "band-404", "band-503"],
)
def test_a_server_that_fails_says_whether_to_try_again(
    sample_stac: SampleProduct,
    failing: dict[str, int],
    error: type[InferenceError],
    problem: str,
) -> None:
    """Gone (4xx) is the product's fault and final; unavailable (5xx, 429) is worth a retry."""
    with (
        _served(sample_stac, failing) as url,
        pytest.raises(InferenceError) as caught,
        open_product(url) as product,
    ):
        product.read(["B02", "B11"], 0, 50, resolution=30)
    assert type(caught.value) is error
    assert problem in str(caught.value)


def test_a_server_that_does_not_answer_is_unavailable() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(SourceUnavailableError, match="cannot read the STAC item"):
        open_product(f"http://127.0.0.1:{port}/item.json")


@pytest.mark.parametrize(
    "href, expected",
    [
        ("https://example.com/a/B02.tif", "/vsicurl/https://example.com/a/B02.tif"),
        ("s3://sentinel-cogs/x/B02.tif", "/vsis3/sentinel-cogs/x/B02.tif"),
        ("gs://bucket/B02.jp2", "/vsigs/bucket/B02.jp2"),
        ("file:///data/B02.tif", "/data/B02.tif"),
        ("/data/B02.tif", "/data/B02.tif"),
    ],
)
def test_asset_hrefs_become_gdal_paths(href: str, expected: str) -> None:
    assert gdal_href(href) == expected

"""The sample-product generator: real-looking SAFE and STAC products the default model can read."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import typer
from lxml import etree
from pyproj import Transformer
from rasterio.enums import Resampling
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import Point, Polygon, shape
from typer.testing import CliRunner

from inference.sample import SampleProduct, SampleProductError, write_sample_product
from inference.sample.cli import register

SIZE = 366  # 10 m pixels; 183 at 20 m, 61 at 60 m
# The product metadata file opens as a container of subdatasets, without a geotransform.
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def _product(root: Path, **kwargs: object) -> SampleProduct:
    return write_sample_product(root, size=SIZE, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], SampleProduct]:
    """One small SAFE per level and per kind of baseline, all from seed 3."""
    root = tmp_path_factory.mktemp("safe")
    return {
        (level, baseline): _product(
            root / f"{level}-{baseline}", level=level, baseline=baseline, seed=3
        )
        for level in ("L1C", "L2A")
        for baseline in ("05.09", "03.01")
    }


def _mtd(product: SampleProduct) -> Path:
    return next(product.path.glob("MTD_MSIL*.xml"))


NATIVE_RES = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20}
NATIVE_RES |= {"B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20}
BAND_ID = {band: index for index, band in enumerate(NATIVE_RES)}


def _band_path(product: SampleProduct, band: str) -> Path:
    """The JP2 of a band at its native resolution, found as a reader would: from IMAGE_FILE."""
    tree = etree.parse(str(_mtd(product)))
    suffixes = (f"_{band}", f"_{band}_{NATIVE_RES[band]}m")
    for text in tree.xpath("//IMAGE_FILE/text()"):
        if text.endswith(suffixes):
            return product.path / f"{text}.jp2"
    raise AssertionError(f"{band} not listed in {_mtd(product)}")


def _reflectance_convention(product: SampleProduct) -> tuple[float, list[float]]:
    """(quantification value, offsets per band id) read from the product metadata."""
    tree = etree.parse(str(_mtd(product)))
    quant = tree.xpath("//QUANTIFICATION_VALUE | //BOA_QUANTIFICATION_VALUE")
    offsets = tree.xpath(
        "//Radiometric_Offset_List/RADIO_ADD_OFFSET | //BOA_ADD_OFFSET_VALUES_LIST/BOA_ADD_OFFSET"
    )
    by_band = {int(o.get("band_id")): float(o.text) for o in offsets}
    return float(quant[0].text), [by_band.get(i, 0.0) for i in range(13)]


@pytest.mark.parametrize("level", ["L1C", "L2A"])
@pytest.mark.parametrize("baseline", ["05.09", "03.01"])
def test_gdal_sentinel2_driver_opens_the_safe(
    products: dict[tuple[str, str], SampleProduct], level: str, baseline: str
) -> None:
    product = products[(level, baseline)]
    assert product.path.name == f"{product.product_id}.SAFE"
    assert product.product_id.startswith(f"S2A_MSI{level}_2023")
    assert f"_N{baseline.replace('.', '')}_" in product.product_id
    with rasterio.open(_mtd(product)) as ds:
        assert ds.driver == "SENTINEL2"
        assert ds.tags()["PROCESSING_BASELINE"] == baseline
        subdatasets = ds.subdatasets
    by_kind = {s.split(":")[-2]: s for s in subdatasets}
    assert {"10m", "20m", "60m", "TCI"} <= set(by_kind)
    with rasterio.open(by_kind["10m"]) as ds:
        names = [ds.tags(i)["BANDNAME"] for i in range(1, ds.count + 1)]
        assert names[:4] == ["B4", "B3", "B2", "B8"]
        assert ds.count == (4 if level == "L1C" else 6)  # L2A: GDAL adds AOT and WVP
        assert (ds.width, ds.height) == (SIZE, SIZE)
        assert ds.crs.to_epsg() == 32632
        assert ds.transform.a == 10 and ds.transform.c == 699960 and ds.transform.f == 5900040
        blue = ds.read(3)
        assert 0.8 < np.count_nonzero(blue) / blue.size < 0.95  # the no-data corner is cut off
    with rasterio.open(by_kind["20m"]) as ds:
        assert ds.width == SIZE // 2
        names = [ds.tags(i)["BANDNAME"] for i in range(1, 7)]
        assert names == ["B5", "B6", "B7", "B8A", "B11", "B12"]
    with rasterio.open(by_kind["60m"]) as ds:
        assert ds.width == SIZE // 6
        assert ds.tags(1)["BANDNAME"] == "B1"


@pytest.mark.parametrize("level", ["L1C", "L2A"])
def test_radiometric_offset_only_from_baseline_04(
    products: dict[tuple[str, str], SampleProduct], level: str
) -> None:
    new, old = products[(level, "05.09")], products[(level, "03.01")]
    assert _reflectance_convention(new) == (10000.0, [-1000.0] * 13)
    assert _reflectance_convention(old) == (10000.0, [0.0] * 13)
    with rasterio.open(_band_path(new, "B04")) as a, rasterio.open(_band_path(old, "B04")) as b:
        dn_new, dn_old = a.read(1).astype(np.int32), b.read(1).astype(np.int32)
    valid = dn_old > 0
    assert np.array_equal(dn_new > 0, valid)
    # The same scene: DN = reflectance * 10000 + 1000 from 04.00 on, reflectance * 10000 before.
    assert np.all(dn_new[valid] - dn_old[valid] == 1000)
    reflectance = dn_old[valid] / 10000.0
    assert np.percentile(reflectance, 5) > 0.01 and np.percentile(reflectance, 99) < 1.0


def test_no_data_corner_is_zero_and_outside_the_footprint(
    products: dict[tuple[str, str], SampleProduct],
) -> None:
    product = products[("L1C", "05.09")]
    tree = etree.parse(str(_mtd(product)))
    numbers = [float(v) for v in tree.xpath("//EXT_POS_LIST/text()")[0].split()]
    footprint = Polygon([(lon, lat) for lat, lon in zip(numbers[0::2], numbers[1::2], strict=True)])
    to_lonlat = Transformer.from_crs(32632, 4326, always_xy=True)
    for band in ("B02", "B11", "B01", "B10"):
        with rasterio.open(_band_path(product, band)) as ds:
            data = ds.read(1)
            n = ds.width
            assert data[-1, -1] == 0 and data[0, 0] > 0 and data[n // 2, n // 2] > 0
            inside_footprint = []
            for row, col in ((n - 1, n - 1), (n - 2, n - n // 5), (0, 0), (n - 1, 0), (0, n - 1)):
                lon, lat = to_lonlat.transform(*ds.xy(row, col))
                inside_footprint.append(footprint.contains(Point(lon, lat)))
                assert inside_footprint[-1] == (data[row, col] > 0), (band, row, col)
            assert inside_footprint == [False, False, True, True, True]
    manifest = (product.path / "manifest.safe").read_text()
    assert " ".join(f"{v!r}" for v in numbers[:4]) in manifest


def test_truth_has_every_class_in_plausible_shares(
    products: dict[tuple[str, str], SampleProduct],
) -> None:
    product = products[("L1C", "05.09")]
    with (
        rasterio.open(product.truth_path) as truth,
        rasterio.open(_band_path(product, "B02")) as b2,
    ):
        assert (truth.crs, truth.transform, truth.shape) == (b2.crs, b2.transform, b2.shape)
        assert truth.dtypes[0] == "uint8" and truth.nodata == 0
        classes = truth.read(1)
        assert np.array_equal(classes == 0, b2.read(1) == 0)
    counts = np.bincount(classes.ravel(), minlength=6)
    assert counts[5] == 0
    assert product.class_counts == {v: int(c) for v, c in enumerate(counts)}
    share = counts / counts[1:5].sum()
    assert 0.10 < share[3] + share[4] < 0.45, share  # cloud cover
    assert 0.01 < share[2] < 0.3, share  # cloud shadow (a few big clouds in a small sample)
    assert 0.01 < share[3] < 0.2 and share[4] > 0.05 and share[1] > 0.35, share
    tree = etree.parse(str(_mtd(product)))
    reported = float(tree.xpath("//Cloud_Coverage_Assessment/text()")[0])
    assert reported == pytest.approx(100 * (share[3] + share[4]), abs=0.01)


def test_thin_cirrus_shows_in_b10_and_the_scl_as_class_3_of_the_truth(
    products: dict[tuple[str, str], SampleProduct],
) -> None:
    """Thin cirrus: B10 in Sen2Cor's thin-cirrus range (L1C), SCL class 10 (L2A), truth 3."""
    l1c = products[("L1C", "05.09")]
    quant, offsets = _reflectance_convention(l1c)
    with rasterio.open(_band_path(l1c, "B10")) as ds:
        b10 = (ds.read(1).astype(np.float64) + offsets[BAND_ID["B10"]]) / quant
    with rasterio.open(l1c.truth_path) as ds:
        truth = ds.read(1)[3::6, 3::6]  # the 10 m pixel at the centre of each 60 m one
    thin = (b10 >= 0.012) & (b10 <= 0.035)
    assert thin[truth == 1].mean() < 0.02  # clear ground is dark at 1.38 um
    assert thin[truth == 3].mean() > 0.3  # thin cirrus (and the frayed edges of thin veils)
    # low opaque cloud can lie in the range too (B10 sees only what is high): not so the ground
    assert (truth[thin & (truth != 4)] == 3).mean() > 0.6
    l2a = products[("L2A", "05.09")]
    scl_path = next(l2a.path.glob("GRANULE/*/IMG_DATA/R20m/*_SCL_20m.jp2"))
    with rasterio.open(scl_path) as ds, rasterio.open(l2a.truth_path) as t:
        scl, truth20 = ds.read(1), t.read(1, out_shape=(ds.height, ds.width))
    assert (truth20 == 3).mean() > 0.02
    # the SCL is made at 20 m from the same fields; the truth decimated to 20 m differs at edges
    assert ((scl == 10) == (truth20 == 3)).mean() > 0.98


def test_same_seed_same_bytes_other_seed_other_scene(
    products: dict[tuple[str, str], SampleProduct], tmp_path: Path
) -> None:
    first = products[("L1C", "05.09")]
    again = _product(tmp_path / "again", level="L1C", baseline="05.09", seed=3)
    other = _product(tmp_path / "other", level="L1C", baseline="05.09", seed=4)
    assert again.product_id == first.product_id
    for band in ("B02", "B12", "B09"):
        assert _band_path(again, band).read_bytes() == _band_path(first, band).read_bytes()
        with (
            rasterio.open(_band_path(first, band)) as a,
            rasterio.open(_band_path(other, band)) as b,
        ):
            assert np.mean(a.read(1) != b.read(1)) > 0.5
    assert (again.path / "manifest.safe").read_bytes() == (
        first.path / "manifest.safe"
    ).read_bytes()
    assert again.truth_path.read_bytes() == first.truth_path.read_bytes()
    assert other.truth_path.read_bytes() != first.truth_path.read_bytes()


def _read_model_bands(product: SampleProduct) -> np.ndarray:
    """The six bands of the default model as TOA reflectance at 30 m, (rows, cols, 6)."""
    quant, offsets = _reflectance_convention(product)
    out_size = SIZE_MODEL // 3
    layers = []
    for band in ("B02", "B03", "B04", "B08", "B11", "B12"):
        with rasterio.open(_band_path(product, band)) as ds:
            dn = ds.read(1, out_shape=(out_size, out_size), resampling=Resampling.average)
            if band == "B02":  # 30 m pixels wholly inside the footprint
                full = ds.read(1)
                blocks = full.reshape(out_size, 3, out_size, 3)
                valid = blocks.min(axis=(1, 3)) > 0
        layers.append((dn.astype(np.float32) + offsets[BAND_ID[band]]) / quant)
    img = np.stack(layers, axis=-1).astype(np.float32)
    img[~valid] = 0.0
    return img


def _mode_3x3(classes: np.ndarray) -> np.ndarray:
    """Majority class of each 3 x 3 block (ties to the lower value)."""
    n = classes.shape[0] // 3
    blocks = classes[: n * 3, : n * 3].reshape(n, 3, n, 3).transpose(0, 2, 1, 3).reshape(n, n, 9)
    counts = np.stack([(blocks == v).sum(axis=-1) for v in range(6)], axis=-1)
    return counts.argmax(axis=-1).astype(np.uint8)


SIZE_MODEL = 1098


@pytest.mark.parametrize("seed", [0, 5])
def test_default_model_finds_the_clouds_and_shadows(tmp_path: Path, seed: int) -> None:
    """The ukis-csmask 6-band L1C U-Net agrees with the generator's truth at 30 m.

    Semi-transparent cloud (3) counts either way: the model sees most of the veils of thin
    low cloud, and is not meant to see thin cirrus (the engine finds that in B10).
    """
    from ukis_csmask.mask import CSmask

    product = write_sample_product(tmp_path, size=SIZE_MODEL, level="L1C", seed=seed)
    img = _read_model_bands(product)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        csm = CSmask(
            img,
            band_order=["blue", "green", "red", "nir", "swir16", "swir22"],
            product_level="l1c",
            intra_op_num_threads=2,
            inter_op_num_threads=1,
        ).csm[..., 0]  # 0 clear, 1 cloud, 2 cloud shadow
    with rasterio.open(product.truth_path) as ds:
        truth = _mode_3x3(ds.read(1))
    valid = (truth > 0) & img.any(axis=-1)
    expected = np.select([truth == 1, truth == 2, truth == 4], [0, 2, 1], -1)[valid]
    predicted = csm[valid]
    semi = truth[valid] == 3
    cloud_t, cloud_p = expected == 1, predicted == 1
    recall = (cloud_t & cloud_p).sum() / cloud_t.sum()
    precision = ((cloud_t | semi) & cloud_p).sum() / cloud_p.sum()
    shadow_t, shadow_p = expected == 2, predicted == 2
    shadow_recall = (shadow_t & shadow_p).sum() / shadow_t.sum()
    accuracy = (expected == predicted)[~semi].mean()
    report = f"cloud recall {recall:.2f} precision {precision:.2f}, shadow recall "
    report += f"{shadow_recall:.2f}, accuracy {accuracy:.3f}"
    assert recall >= 0.7 and precision >= 0.7, report
    assert shadow_recall >= 0.5, report
    assert accuracy >= 0.75, report


def _validate_offline(item: dict[str, object], schemas_dir: Path) -> None:
    import jsonschema
    from referencing import Registry, Resource

    index = json.loads((schemas_dir / "index.json").read_text())
    resources = []
    for url, rel in index.items():
        resource = Resource.from_contents(json.loads((schemas_dir / rel).read_text()))
        resources += [(url, resource), (url.rstrip("#"), resource)]
    registry: Registry = Registry().with_resources(resources)
    urls = ["https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"]
    for url in urls + list(item["stac_extensions"]):  # type: ignore[call-overload]
        schema = registry.contents(url)
        validator = jsonschema.validators.validator_for(schema)(schema, registry=registry)
        errors = [e.message for e in validator.iter_errors(item)]
        assert not errors, (url, errors[:3])


@pytest.mark.parametrize("level", ["L2A", "L1C"])
def test_stac_item_with_cogs_matches_the_safe(
    products: dict[tuple[str, str], SampleProduct],
    tmp_path: Path,
    shared_data: Path,
    level: str,
) -> None:
    safe = products[(level, "05.09")]
    product = _product(tmp_path, level=level, baseline="05.09", seed=3, fmt="stac")
    assert product.product_id == f"S2A_32UQD_20230625_0_{level}"
    assert product.path.name == f"{product.product_id}.json"
    assert product.truth_path.read_bytes() == safe.truth_path.read_bytes()
    item = pystac.Item.from_file(str(product.path))
    props = item.properties
    assert props["grid:code"] == "MGRS-32UQD"
    # Written as proj:epsg like Earth Search; pystac migrates it to proj:code when reading.
    assert props.get("proj:code", f"EPSG:{props.get('proj:epsg')}") == "EPSG:32632"
    assert props["s2:processing_baseline"] == "05.09"
    assert props["s2:product_uri"] == f"{safe.product_id}.SAFE"
    assert props["platform"] == "sentinel-2a" and props["sat:relative_orbit"] == 65
    assert 0 < props["view:sun_elevation"] < 90 and 0 <= props["view:sun_azimuth"] < 360
    counts = safe.class_counts
    cloud = 100 * (counts[3] + counts[4]) / sum(counts[v] for v in (1, 2, 3, 4))
    assert props["eo:cloud_cover"] == pytest.approx(cloud, abs=1e-3)
    expected = {"coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir"}
    expected |= {"nir08", "nir09", "swir16", "swir22", "visual"}
    expected |= {"scl"} if level == "L2A" else {"cirrus"}
    assert set(item.assets) == expected
    assert item.bbox is not None
    assert shape(item.geometry).area < Polygon.from_bounds(*item.bbox).area  # the corner is cut
    for key, asset in item.assets.items():
        href = Path(asset.get_absolute_href() or "")
        is_valid, errors, _ = cog_validate(str(href))
        assert is_valid and not errors, (key, errors)
    for key, band in (("blue", "B02"), ("swir16", "B11"), ("coastal", "B01")):
        asset = item.assets[key]
        raster_band = asset.extra_fields["raster:bands"][0]
        assert asset.extra_fields["eo:bands"][0]["name"] == band
        assert (raster_band["scale"], raster_band["offset"]) == (0.0001, -0.1)
        with rasterio.open(asset.get_absolute_href()) as cog:
            assert list(cog.transform)[:6] == asset.extra_fields["proj:transform"]
            from_stac = cog.read(1) * raster_band["scale"] + raster_band["offset"]
        quant, offsets = _reflectance_convention(safe)
        with rasterio.open(_band_path(safe, band)) as jp2:
            from_safe = (jp2.read(1) + offsets[BAND_ID[band]]) / quant
        np.testing.assert_allclose(from_stac, from_safe, atol=1e-9)
    _validate_offline(item.to_dict(include_self_link=False), shared_data / "stac-schemas")


def test_bad_arguments_name_the_argument(tmp_path: Path) -> None:
    cases = {
        "size": {"size": 1000},
        "level": {"level": "L3"},
        "baseline": {"baseline": "5.9"},
        "tile": {"tile": "32IQD"},
        "fmt": {"fmt": "zarr"},
        "seed": {"seed": -1},
    }
    for name, kwargs in cases.items():
        with pytest.raises(SampleProductError, match=name):
            write_sample_product(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert issubclass(SampleProductError, ValueError)
    assert not any(tmp_path.iterdir())


def test_cli_writes_a_product_and_prints_its_path(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command, so that typer keeps the subcommand name
        """Nothing."""

    runner = CliRunner()
    result = runner.invoke(
        app, ["sample-product", str(tmp_path), "--size", "600", "--level", "L2A"]
    )
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_dir() and path.name.startswith("S2A_MSIL2A_") and path.suffix == ".SAFE"
    assert (path / "MTD_MSIL2A.xml").is_file()
    assert len(list(tmp_path.glob("*.truth.tif"))) == 1
    bad = runner.invoke(app, ["sample-product", str(tmp_path / "x"), "--size", "1000"])
    assert bad.exit_code != 0 and "size" in bad.output

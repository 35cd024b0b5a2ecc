"""Bad input: one exception type (ProductError) naming the product and the problem, no output."""

from __future__ import annotations

import json
import re
import struct
import zipfile
from pathlib import Path

import pytest
import rasterio
from rasterio.transform import from_origin
from typer.testing import CliRunner

from inference import InferenceSettings, ProductError, open_product, run_mask
from inference.sample import SampleProduct
from kappacat.cli import app
from tests.inference.conftest import copy_safe

IMG = "GRANULE/*/IMG_DATA"
HUGE = 200_000  # px a side: 37 GiB for one uint8 band at 10 m


def _mask_fails(source: Path | str, tmp_path: Path, settings: InferenceSettings) -> ProductError:
    out_dir = tmp_path / "out"
    with pytest.raises(ProductError) as caught:
        run_mask(source, out_dir / "mask.tif", settings=settings)
    leftovers = list(out_dir.iterdir()) if out_dir.exists() else []
    assert leftovers == [], f"files left behind: {leftovers}"
    return caught.value


def _band(safe: Path, band: str) -> Path:
    return next(safe.glob(f"{IMG}/*_{band}.jp2"))


def _edit_mtd(safe: Path, pattern: str, replacement: str) -> None:
    mtd = next(safe.glob("MTD_MSIL*.xml"))
    text, n = re.subn(pattern, replacement, mtd.read_text())
    assert n, f"{pattern} not found"
    mtd.write_text(text)


def test_truncated_jp2(
    sample_l1c: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    safe = copy_safe(sample_l1c, tmp_path)
    band = _band(safe, "B11")
    band.write_bytes(band.read_bytes()[: band.stat().st_size // 2])
    error = _mask_fails(safe, tmp_path, settings)
    assert error.product == sample_l1c.product_id
    assert "B11" in error.problem and "truncated" in error.problem


def test_truncated_jp2_found_by_gdal_too(
    sample_l1c: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    safe = copy_safe(sample_l1c, tmp_path)
    band = _band(safe, "B04")
    band.write_bytes(band.read_bytes()[: band.stat().st_size * 2 // 3])
    unchecked = settings.model_copy(update={"check_jp2": False})
    error = _mask_fails(safe, tmp_path, unchecked)
    assert error.product == sample_l1c.product_id
    assert "cannot read band B04" in error.problem


def test_missing_band_file(
    sample_l1c: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    safe = copy_safe(sample_l1c, tmp_path)
    _band(safe, "B12").unlink()
    error = _mask_fails(safe, tmp_path, settings)
    assert error.product == sample_l1c.product_id
    assert "missing band B12" in error.problem


def test_band_not_listed(
    sample_l1c: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    safe = copy_safe(sample_l1c, tmp_path)
    _edit_mtd(safe, r"\s*<IMAGE_FILE>[^<]*_B08</IMAGE_FILE>", "")
    error = _mask_fails(safe, tmp_path, settings)
    assert "missing band B08" in error.problem and "not listed" in error.problem


def test_unknown_product_type(
    sample_l1c: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    safe = copy_safe(sample_l1c, tmp_path)
    _edit_mtd(safe, r"<PRODUCT_TYPE>S2MSI1C</PRODUCT_TYPE>", "<PRODUCT_TYPE>S2MSI1B</PRODUCT_TYPE>")
    error = _mask_fails(safe, tmp_path, settings)
    assert error.product == safe.name
    assert "unknown product type" in error.problem and "S2MSI1B" in error.problem


def test_safe_of_another_mission(tmp_path: Path, settings: InferenceSettings) -> None:
    safe = tmp_path / "S1A_IW_GRDH_1SDV_20230625T053312_20230625T053337_049147_05E8E6_1D52.SAFE"
    (safe / "measurement").mkdir(parents=True)
    (safe / "manifest.safe").write_text("<xfdu:XFDU/>")
    error = _mask_fails(safe, tmp_path, settings)
    assert error.product == safe.name and "unknown product type" in error.problem


def test_zip_that_is_not_a_safe(tmp_path: Path, settings: InferenceSettings) -> None:
    archive = tmp_path / "holiday-photos.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("photos/beach.txt", "sand")
    error = _mask_fails(archive, tmp_path, settings)
    assert error.product == "holiday-photos.zip"
    assert "does not contain a .SAFE" in error.problem


def test_stac_item_not_sentinel2(
    sample_stac: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    item = json.loads(sample_stac.path.read_text())
    item["id"] = "LC08_L2SP_196023_20230625_02_T1"
    item["properties"] = {
        k: v for k, v in item["properties"].items() if not k.startswith(("s2:", "mgrs:"))
    }
    item["properties"].update(platform="landsat-8", constellation="landsat")
    path = sample_stac.path.parent / "landsat.json"
    path.write_text(json.dumps(item))
    try:
        error = _mask_fails(path, tmp_path, settings)
    finally:
        path.unlink()
    assert error.product == "LC08_L2SP_196023_20230625_02_T1"
    assert "not a Sentinel-2" in error.problem and "landsat-8" in error.problem


def _set_red(key: str, value: object):
    def edit(item: dict) -> None:
        item["assets"]["red"][key] = value

    return edit


def _break_geometry(item: dict) -> None:
    item["geometry"] = {"type": "Polygon", "coordinates": [[1, 2]]}


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (_set_red("raster:bands", ["scale 0.0001"]), "malformed metadata of asset 'red'"),
        (_set_red("gsd", "ten metres"), "malformed metadata of asset 'red'"),
        (_break_geometry, "geometry is not a polygon"),
    ],
    ids=["raster-bands-not-objects", "gsd-not-a-number", "geometry-not-a-polygon"],
)
def test_stac_item_with_malformed_metadata(
    sample_stac: SampleProduct, tmp_path: Path, settings: InferenceSettings, edit, problem: str
) -> None:
    item = json.loads(sample_stac.path.read_text())
    edit(item)
    path = sample_stac.path.parent / "malformed.json"
    path.write_text(json.dumps(item))
    try:
        error = _mask_fails(path, tmp_path, settings)
    finally:
        path.unlink()
    assert error.product == item["id"]
    assert problem in error.problem


def test_product_outside_its_footprint(
    sample_l1c: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    safe = copy_safe(sample_l1c, tmp_path)
    far_away = "10 20 10 21 11 21 11 20 10 20"  # lat lon pairs in the Sahel, not in 32UQD
    _edit_mtd(
        safe, r"<EXT_POS_LIST>[^<]*</EXT_POS_LIST>", f"<EXT_POS_LIST>{far_away}</EXT_POS_LIST>"
    )
    error = _mask_fails(safe, tmp_path, settings)
    assert error.product == sample_l1c.product_id and "outside its footprint" in error.problem


def test_nonexistent_source(tmp_path: Path) -> None:
    with pytest.raises(ProductError, match="no such file"):
        open_product(tmp_path / "nothing.SAFE")


def test_command_exits_2_with_the_message(tmp_path: Path) -> None:
    archive = tmp_path / "not-a-product.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("readme.txt", "hello")
    result = CliRunner().invoke(app, ["mask", str(archive), str(tmp_path / "m.tif"), "-q"])
    assert result.exit_code == 2
    assert "not-a-product.zip" in result.output and "does not contain a .SAFE" in result.output
    assert not (tmp_path / "m.tif").exists()


def _huge_tif(path: Path, like: Path | str) -> Path:
    """A GeoTIFF in the grid of ``like`` declaring 200 000 x 200 000 px (a few kB: no tile)."""
    with rasterio.open(like) as ds:
        crs, t = ds.crs, ds.transform
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=HUGE,
        height=HUGE,
        count=1,
        dtype="uint16",
        crs=crs,
        transform=from_origin(t.c, t.f, 10, 10),
        tiled=True,
        blockxsize=4096,
        blockysize=4096,
        SPARSE_OK=True,
    ):
        pass
    assert path.stat().st_size < 1_000_000
    return path


def test_stac_bands_declaring_an_impossible_size(
    sample_stac: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    """The 10 m bands that the grid is taken from: refused before the grid is made."""
    item = json.loads(sample_stac.path.read_text())
    for key in ("blue", "green", "red", "nir"):
        asset = item["assets"][key]
        asset["href"] = str(_huge_tif(tmp_path / f"{key}.tif", asset["href"]))
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(item))
    error = _mask_fails(path, tmp_path, settings)
    assert error.product == item["id"]
    assert f"declares {HUGE} x {HUGE} px" in error.problem and "10980 x 10980" in error.problem


def test_safe_band_declaring_an_impossible_size(
    sample_l1c: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    """A 20 m band read beside the grid: refused before a row of it is read."""
    safe = copy_safe(sample_l1c, tmp_path)
    band = _band(safe, "B11")
    _huge_tif(band.with_suffix(".tif"), band)
    band.unlink()
    error = _mask_fails(safe, tmp_path, settings)
    assert error.product == sample_l1c.product_id
    assert "band B11" in error.problem and f"declares {HUGE} x {HUGE} px" in error.problem


def test_truncated_zip_is_a_corrupt_archive(
    sample_zip: Path, tmp_path: Path, settings: InferenceSettings
) -> None:
    archive = tmp_path / "S2B_MSIL1C_20230601T103629_N0509_R008_T32UQD_20230601T112342.zip"
    archive.write_bytes(sample_zip.read_bytes()[: sample_zip.stat().st_size // 2])
    error = _mask_fails(archive, tmp_path, settings)
    assert error.product == archive.name
    assert "corrupt archive" in error.problem and "unknown product type" not in error.problem


def test_zip_with_a_damaged_member_is_a_corrupt_archive(
    sample_l1c: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    archive = tmp_path / "damaged.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(sample_l1c.path.rglob("*")):
            if path.is_file() and path.suffix != ".jp2":
                out.write(path, f"{sample_l1c.path.name}/{path.relative_to(sample_l1c.path)}")
    with zipfile.ZipFile(archive) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("/MTD_MSIL1C.xml"))
    data = bytearray(archive.read_bytes())
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len  # the member's compressed data
    data[start + 10 : start + 20] = bytes(10)
    archive.write_bytes(bytes(data))
    error = _mask_fails(archive, tmp_path, settings)
    assert error.product == archive.name and "corrupt archive" in error.problem

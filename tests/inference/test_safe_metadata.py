"""Metadata of the three real SAFE products in ../shared/data/sentinel2-safe-metadata/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from shapely.geometry import shape

from inference.footprint import Footprint
from inference.readers.safe_xml import (
    MetadataError,
    parse_product_metadata,
    parse_tile_metadata,
)

L1C_0301 = "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248"
L2A_0400 = "S2B_MSIL2A_20220413T150759_N0400_R025_T33XWJ_20220414T082126"
L2A_0509 = "S2A_MSIL2A_20230625T234621_N0509_R073_T01WCP_20230626T022157"


def _safe(shared_data: Path, product: str) -> Path:
    return shared_data / "sentinel2-safe-metadata" / f"{product}.SAFE"


def _mtd(shared_data: Path, product: str) -> bytes:
    safe = _safe(shared_data, product)
    return next(safe.glob("MTD_MSIL*.xml")).read_bytes()


def _tile(shared_data: Path, product: str) -> bytes:
    return next(_safe(shared_data, product).glob("GRANULE/*/MTD_TL.xml")).read_bytes()


def test_l1c_baseline_0301_has_no_offset(shared_data: Path) -> None:
    meta = parse_product_metadata(_mtd(shared_data, L1C_0301))
    assert (meta.product_id, meta.level, meta.processing_baseline) == (L1C_0301, "L1C", "03.01")
    assert meta.quantification == 10000
    assert meta.offsets == {}
    assert meta.platform == "sentinel-2a"
    assert meta.relative_orbit == 133
    assert meta.start == datetime(2021, 9, 8, 4, 27, 1, 24000, tzinfo=UTC)
    assert {i.band for i in meta.images} == {
        "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"
    }  # fmt: skip
    b11 = next(i for i in meta.images if i.band == "B11")
    assert b11.resolution == 20 and b11.path.endswith("IMG_DATA/T46RER_20210908T042701_B11")


@pytest.mark.parametrize(
    "product, baseline, orbit", [(L2A_0400, "04.00", 25), (L2A_0509, "05.09", 73)]
)
def test_l2a_from_baseline_0400_has_boa_offset(
    shared_data: Path, product: str, baseline: str, orbit: int
) -> None:
    meta = parse_product_metadata(_mtd(shared_data, product))
    assert (meta.level, meta.processing_baseline, meta.relative_orbit) == ("L2A", baseline, orbit)
    assert meta.quantification == 10000
    assert len(meta.offsets) == 13 and set(meta.offsets.values()) == {-1000.0}
    resolutions = {(i.band, i.resolution) for i in meta.images}
    assert {("B02", 10), ("B02", 20), ("B02", 60), ("B8A", 20), ("B09", 60)} <= resolutions
    assert ("B10", 60) not in resolutions  # L2A has no cirrus band


def test_tile_metadata(shared_data: Path) -> None:
    tile = parse_tile_metadata(_tile(shared_data, L1C_0301))
    assert tile.epsg == 32646
    assert tile.sun_zenith == pytest.approx(26.4931642669439)
    assert tile.sun_azimuth == pytest.approx(142.987598836457)
    assert tile.sizes == {10: (10980, 10980), 20: (5490, 5490), 60: (1830, 1830)}
    assert tile.origins[10] == (499980.0, 3100020.0)
    l2a = parse_tile_metadata(_tile(shared_data, L2A_0509))
    assert (l2a.epsg, round(l2a.sun_azimuth or 0, 3)) == (32601, 174.705)


def test_footprint_of_a_tile(shared_data: Path) -> None:
    meta = parse_product_metadata(_mtd(shared_data, L1C_0301))
    footprint = Footprint.from_ring(meta.footprint)
    assert footprint.geojson["type"] == "Polygon"
    west, south, east, north = footprint.bbox
    assert (west, south, east, north) == pytest.approx(
        (92.9998, 27.0335, 93.4334, 28.0254), abs=1e-3
    )


def test_footprint_across_the_antimeridian_is_split(shared_data: Path) -> None:
    meta = parse_product_metadata(_mtd(shared_data, L2A_0509))
    footprint = Footprint.from_ring(meta.footprint)
    geometry = footprint.geojson
    assert geometry["type"] == "MultiPolygon"
    assert len(shape(geometry).geoms) == 2  # one part each side of the antimeridian
    for polygon in shape(geometry).geoms:  # every part stays within [-180, 180]
        assert polygon.bounds[0] >= -180 and polygon.bounds[2] <= 180
    west, _, east, _ = footprint.bbox
    assert west == pytest.approx(178.474, abs=1e-3) and east == pytest.approx(-178.966, abs=1e-3)
    assert Footprint.from_geojson(geometry).continuous.area == pytest.approx(
        footprint.continuous.area
    )


def test_unknown_product_type_is_refused(shared_data: Path) -> None:
    data = _mtd(shared_data, L1C_0301).replace(b"<PRODUCT_TYPE>S2MSI1C<", b"<PRODUCT_TYPE>S2MSI1B<")
    with pytest.raises(MetadataError, match="unknown product type S2MSI1B"):
        parse_product_metadata(data)

"""The million-item benchmark's catalogue looks like Sentinel-2's: real tiles, valid items."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from pyproj import Transformer

from bench.europe_items import generate, mgrs_tiles
from catalog.collections import L1C, L2A
from catalog.stac_validation import StacValidator


def _tile_metadata(shared_data: Path) -> list[tuple[str, int, float, float]]:
    found = []
    for path in sorted((shared_data / "sentinel2-safe-metadata").rglob("MTD_TL.xml")):
        text = path.read_text()
        code = re.search(r"_T(\d\d[A-Z]{3})_", text)
        epsg = re.search(r"EPSG:(\d+)", text)
        ulx, uly = re.search(r"<ULX>(\d+)", text), re.search(r"<ULY>(\d+)", text)
        assert code and epsg and ulx and uly, path
        found.append((code[1], int(epsg[1]), float(ulx[1]), float(uly[1])))
    return found


def test_tiles_are_the_real_products_tiles(shared_data: Path) -> None:
    """The grid computed from the MGRS definition names and places real products' tiles
    (those whose 100 km square has its centre inside the UTM zone: the grid leaves out the
    zone-edge tiles, 01WCP here, that reach into the next zone)."""
    checked = 0
    for code, epsg, ulx, uly in _tile_metadata(shared_data):
        lon, lat = Transformer.from_crs(epsg, 4326, always_xy=True).transform(
            ulx + 50_020, uly - 50_040
        )
        zone_west = -180 + 6 * (epsg % 100 - 1)
        if not zone_west <= lon < zone_west + 6:
            continue
        checked += 1
        tiles = {t.code: t for t in mgrs_tiles((lon - 1, lat - 1, lon + 1, lat + 1))}
        assert code in tiles, f"{code} not among {sorted(tiles)}"
        tile = tiles[code]
        assert tile.epsg == epsg
        assert abs(tile.ulx - ulx) <= 40 and abs(tile.uly - uly) <= 40
    assert checked >= 2


def test_generated_items_are_valid_masks_of_both_levels(shared_data: Path, tmp_path: Path) -> None:
    """Every generated item is valid STAC, its class shares sum to 100, its id is its own."""
    path = tmp_path / "items.ndjson"
    tiles = generate(3000, path)
    items = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(items) == 3000 and len(tiles) == 2
    assert len({i["id"] for i in items}) == 3000
    assert {i["collection"] for i in items} == {L1C, L2A}
    validator = StacValidator(shared_data / "stac-schemas")
    for item in items[::150]:
        assert validator.errors(item) == []
        props = item["properties"]
        shares = [v for k, v in props.items() if re.fullmatch(r"kappacat:\w+_percentage", k)]
        assert len(shares) == 5
        assert sum(shares) == pytest.approx(100, abs=0.01)
        assert 0 <= props["eo:cloud_cover"] <= 100
        assert props["grid:code"] == f"MGRS-{item['id'].split('_T')[-1][:5]}"
    days = sorted({i["properties"]["datetime"][:10] for i in items})
    assert days[0].startswith("2017-01") and "2023-06-01" not in days

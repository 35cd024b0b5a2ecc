"""A Sentinel-2 mask archive of Europe: real MGRS tiles, the satellites' revisit, 2017 to 2026.

Every item is what the pipeline would publish for one product: the item of a real mask COG
built by ``ingest.items.build_mask_item`` is the template, and each copy gets its product's
id, date, MGRS tile (footprint, ``grid:code``, ``mgrs:*``, the asset's ``proj:*``), platform,
relative orbit and class shares computed by the pipeline's own ``MaskResult`` from class
counts (``kappacat:*_percentage`` summing to 100, ``eo:cloud_cover`` of the valid pixels).

- Tiles: the Sentinel-2 tiling grid is MGRS's 100 km squares, each tile 109.8 km a side from
  the square's north-west corner (``ULX``, ``ULY`` as in the products' ``MTD_TL.xml``); the
  squares and their letters are computed from the UTM/MGRS definition with pyproj. Tiles whose
  square centre lies inside its UTM zone and inside 10 W to 30 E, 36 to 70 N, taken from the
  centre of Europe (10 E, 50 N) outwards until the requested number of items is reached.
- Dates: each tile lies under 1 to 4 relative orbits (more towards the north, where the
  swaths overlap), each seen every 10 days by each satellite: Sentinel-2A from 2017-01,
  Sentinel-2B from 2017-07, 2C in place of 2A from 2025-01-21; to 2026-11-30. Every
  acquisition gives an L1C and an L2A mask, one in each collection.
- 2023-06-01 and 02 are left free: the tile benchmark's real COGs are published on those days.

The items are written once as NDJSON under ``bench/.cache/europe`` and read back from there.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pyproj import Transformer
from rasterio.crs import CRS

from catalog.legend import CLEAR, CLOUD, CLOUD_SHADOW, MISSING, NODATA, SEMI_TRANSPARENT_CLOUD
from inference.grid import Grid
from inference.product import MaskResult, ProductInfo
from inference.writer import write_mask_cog
from ingest.items import build_mask_item, item_dict

REGION = (-10.0, 36.0, 30.0, 70.0)
CENTRE = (10.0, 50.0)
FIRST_DAY, LAST_DAY = date(2017, 1, 1), date(2026, 11, 30)
S2B_FROM, S2C_FROM = date(2017, 7, 1), date(2025, 1, 21)
KEPT_FREE = {date(2023, 6, 1), date(2023, 6, 2)}
TILE_M, PIXELS = 109_800, 10_980
COLUMNS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
ROWS = "ABCDEFGHJKLMNPQRSTUV"
BANDS = "CDEFGHJKLMNPQRSTUVWX"
LEVELS = ("L1C", "L2A")


@dataclass(frozen=True)
class Tile:
    """One Sentinel-2 tile: its MGRS code, UTM grid and WGS84 footprint."""

    code: str  # e.g. "32UPU"
    epsg: int
    ulx: float
    uly: float
    ring: list[list[float]]  # closed lon/lat ring
    bbox: tuple[float, float, float, float]
    centre: tuple[float, float]

    @property
    def orbits(self) -> int:
        """Relative orbits that see the tile: swaths 290 km wide, tracks 280 km apart at the
        equator and closer by cos(latitude); a tile counts under every track that touches it."""
        return max(1, min(4, round((290 + 110) / (280 * math.cos(math.radians(self.centre[1]))))))


def mgrs_tiles(region: tuple[float, float, float, float] = REGION) -> list[Tile]:
    """The tiles over ``region``, nearest to :data:`CENTRE` first."""
    west, south, east, north = region
    tiles = []
    for zone in range(int((west + 180) // 6) + 1, int((east + 180) // 6) + 2):
        zone_west = -180 + 6 * (zone - 1)
        epsg = 32600 + zone
        to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
        to_lonlat = Transformer.from_crs(epsg, 4326, always_xy=True)
        low = int(to_utm.transform(zone_west + 3, south)[1] // 100_000) - 1
        high = int(to_utm.transform(zone_west, north)[1] // 100_000) + 1
        for column in range(1, 9):
            for row in range(low, high + 1):
                lon, lat = to_lonlat.transform(column * 1e5 + 5e4, row * 1e5 + 5e4)
                if not (zone_west <= lon < zone_west + 6 and west <= lon < east):
                    continue
                if not south <= lat < north:
                    continue
                code = (
                    f"{zone:02d}{BANDS[min(int((lat + 80) // 8), len(BANDS) - 1)]}"
                    f"{COLUMNS[(zone - 1) % 3][column - 1]}"
                    f"{ROWS[(row + (5 if zone % 2 == 0 else 0)) % 20]}"
                )
                ulx, uly = column * 1e5 - 20, (row + 1) * 1e5 + 40
                edge = np.linspace(0, TILE_M, 5)[:-1]  # four points a side, clockwise from NW
                xs = [*(ulx + edge), *[ulx + TILE_M] * 4, *(ulx + TILE_M - edge), *[ulx] * 4]
                ys = [*[uly] * 4, *(uly - edge), *[uly - TILE_M] * 4, *(uly - TILE_M + edge)]
                lons, lats = to_lonlat.transform(xs, ys)
                ring = [[round(x, 6), round(y, 6)] for x, y in zip(lons, lats, strict=True)]
                ring = [*ring[::-1], ring[-1]]  # counter-clockwise, closed (RFC 7946)
                bbox = (min(lons), min(lats), max(lons), max(lats))
                tiles.append(Tile(code, epsg, ulx, uly, ring, bbox, (lon, lat)))
    cx, cy = CENTRE
    scale = math.cos(math.radians(cy))
    return sorted(tiles, key=lambda t: ((t.centre[0] - cx) * scale) ** 2 + (t.centre[1] - cy) ** 2)


def acquisitions(tile: Tile, index: int) -> Iterator[tuple[datetime, str, int]]:
    """(sensing time, platform, relative orbit) of every acquisition of a tile."""
    base = int((tile.centre[0] + 180) * 7) % 10  # neighbouring tracks are days apart
    for k in range(tile.orbits):
        orbit = 1 + (int((tile.centre[0] + 180) / 360 * 143) + 3 * k) % 143
        # 10:30 mean local solar time at the equator crossing, the descending pass north first
        offset = timedelta(seconds=int(37800 - tile.centre[0] * 240 + (70 - tile.centre[1]) * 14))
        for sat, phase in (("a", (base + 3 * k) % 10), ("b", (base + 3 * k + 5) % 10)):
            day = FIRST_DAY + timedelta(days=phase)
            while day <= LAST_DAY:
                if (sat == "b" and day < S2B_FROM) or day in KEPT_FREE:
                    day += timedelta(days=10)
                    continue
                platform = "c" if sat == "a" and day >= S2C_FROM else sat
                when = datetime(day.year, day.month, day.day, tzinfo=UTC) + offset
                yield when + timedelta(milliseconds=index % 997), f"sentinel-2{platform}", orbit
                day += timedelta(days=10)


def _template(level: str, cog: Path) -> dict[str, Any]:
    """The item the pipeline publishes for a small real mask COG of ``level``."""
    day = datetime(2023, 6, 1, 10, 30, tzinfo=UTC)
    product = ProductInfo(
        id=f"S2A_MSI{level}_20230601T103031_N0509_R108_T32UPU_20230601T140000",
        level=level,
        datetime=day,
        footprint={"type": "Polygon", "coordinates": [[[9, 48], [10, 48], [10, 49], [9, 48]]]},
        bbox=(9, 48, 10, 49),
        platform="sentinel-2a",
        mgrs_tile="32UPU",
        relative_orbit=108,
        processing_baseline="05.09",
        epsg=32632,
        href=f"/eodata/S2A_MSI{level}_20230601T103031.SAFE",
    )
    counts = {NODATA: 0, CLEAR: 2048, CLOUD: 2048}
    card = f"ukis-csmask-6b-{level.lower()}"  # the default card of the level
    result = MaskResult(cog, product, counts, card, {"id": card})
    return item_dict(build_mask_item(result, f"s3://kappacat-masks/{product.id}/mask.tif"))


def _small_cog(path: Path) -> Path:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = np.full((64, 64), CLEAR, dtype=np.uint8)
        write_mask_cog(data, Grid(CRS.from_epsg(32632), 600000.0, 5400040.0, 10.0, 64, 64), path)
    return path


def shares(rng: np.random.Generator, count: int) -> np.ndarray:
    """Class fractions (clear, cloud shadow, semi-transparent, cloud, missing, no data) of
    ``count`` products: Europe's bimodal cloud cover, shadows beside clouds, a swath edge
    cutting some tiles (no data) and a little missing input in some."""
    cloudy = rng.beta(0.45, 0.45, count)
    thin = cloudy * rng.uniform(0, 0.3, count)
    shadow = np.minimum(1 - cloudy, cloudy * rng.uniform(0, 0.25, count))
    missing = np.where(rng.random(count) < 0.05, rng.uniform(0, 0.02, count), 0.0)
    missing = np.minimum(missing, 1 - cloudy - shadow)
    clear = 1 - cloudy - shadow - missing
    nodata = np.where(rng.random(count) < 0.3, rng.uniform(0.05, 0.9, count), 0.0)
    return np.stack([clear, shadow, thin, cloudy - thin, missing, nodata], axis=1)


VALUES = (CLEAR, CLOUD_SHADOW, SEMI_TRANSPARENT_CLOUD, CLOUD, MISSING)


def class_counts(fractions: np.ndarray) -> np.ndarray:
    """Pixel counts of a full tile per product: the classes of :data:`VALUES`, then no data."""
    total = PIXELS * PIXELS
    inside = total - (fractions[:, 5] * total).astype(np.int64)
    counts = (fractions[:, :5] * inside[:, None]).astype(np.int64)
    counts[:, 0] += inside - counts.sum(axis=1)
    return np.column_stack([counts, total - inside])


def pipeline_shares(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What ``MaskResult`` makes of the counts, for many products at once: the class
    percentages (of :data:`VALUES`, summing to 100) and ``eo:cloud_cover``."""
    inside = counts[:, :5].sum(axis=1, keepdims=True)
    valid = counts[:, :4].sum(axis=1)
    percentages = 100.0 * counts[:, :5] / inside
    cloud = 100.0 * (counts[:, 2] + counts[:, 3]) / np.maximum(valid, 1)
    return np.round(percentages, 4), np.round(cloud, 4)


def _as_dict(counts: np.ndarray) -> dict[int, int]:
    return {**{v: int(n) for v, n in zip(VALUES, counts[:5], strict=True)}, NODATA: int(counts[5])}


def _checked(counts: np.ndarray, percentages: np.ndarray, cloud: float) -> None:
    """The vectorised shares are the pipeline's own (``MaskResult``) for one product."""
    result = MaskResult(Path("unused"), ProductInfo(**_product_stub()), _as_dict(counts), "", {})
    ours = dict(zip(VALUES, percentages.tolist(), strict=True))
    theirs = {v: round(p, 4) for v, p in result.class_percentages.items()}
    if ours != theirs or round(result.cloud_cover, 4) != cloud:
        raise AssertionError(f"shares differ from the pipeline's: {ours} / {theirs}")


def _fill(
    item: dict[str, Any],
    tile: Tile,
    level: str,
    acquisition: tuple[datetime, str, int],
    shares_: tuple[list[int], list[float], float],
) -> None:
    when, platform, orbit = acquisition
    counts, percentages, cloud = shares_
    stamp = when.strftime("%Y%m%dT%H%M%S")
    processed = when + timedelta(hours=3, minutes=counts[3] % 50)
    baseline = "05.09" if when.year >= 2023 else "05.00"  # collection 1 reprocessing
    pid = f"S2{platform[-1].upper()}_MSI{level}_{stamp}_N{baseline.replace('.', '')}_R{orbit:03d}"
    pid += f"_T{tile.code}_{processed:%Y%m%dT%H%M%S}"
    total = sum(counts)
    by_value = {**dict(zip(VALUES, counts[:5], strict=True)), NODATA: counts[5]}
    share = dict(zip(VALUES, percentages, strict=True))
    item["id"] = pid
    item["geometry"] = {"type": "Polygon", "coordinates": [tile.ring]}
    item["bbox"] = [round(b, 6) for b in tile.bbox]
    props = item["properties"]
    props.update(
        {
            "datetime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "platform": platform,
            "eo:cloud_cover": cloud,
            "grid:code": f"MGRS-{tile.code}",
            "mgrs:utm_zone": int(tile.code[:2]),
            "mgrs:latitude_band": tile.code[2],
            "mgrs:grid_square": tile.code[3:],
            "sat:relative_orbit": orbit,
            "s2:processing_baseline": baseline,
            "processing:lineage": f"Cloud mask of {pid} by model {props['kappacat:model']}",
            "processing:datetime": processed.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    for cls in item["assets"]["mask"]["classification:classes"]:
        value = cls["value"]
        cls["count"] = by_value.get(value, 0)
        cls["percentage"] = round(100.0 * by_value.get(value, 0) / total, 4)
        if value:
            props[f"kappacat:{cls['name']}_percentage"] = share[value]
    mask = item["assets"]["mask"]
    mask["href"] = f"s3://kappacat-masks/{item['collection']}/{pid}/mask.tif"
    mask["proj:code"] = f"EPSG:{tile.epsg}"
    mask["proj:shape"] = [PIXELS, PIXELS]
    mask["proj:transform"] = [10.0, 0.0, tile.ulx, 0.0, -10.0, tile.uly, 0.0, 0.0, 1.0]
    mask["proj:bbox"] = [tile.ulx, tile.uly - TILE_M, tile.ulx + TILE_M, tile.uly]
    mask["file:size"] = 600_000 + counts[1] % 1_500_000
    mask["file:checksum"] = "1220" + hashlib.sha256(pid.encode()).hexdigest()
    for link in item["links"]:
        if link["rel"] == "derived_from":
            link["href"] = f"file:///eodata/{pid}.SAFE"
            link["title"] = f"Source product {pid}"


def generate(count: int, path: Path, seed: int = 0) -> list[str]:
    """Write ``count`` items (half L1C, half L2A masks) as NDJSON to ``path``; the tiles used
    (also written beside it, as JSON)."""
    cog = _small_cog(path.parent / "template.tif")
    templates = {level: orjson.dumps(_template(level, cog)) for level in LEVELS}
    rng = np.random.default_rng(seed)
    written = 0
    used: list[str] = []
    tmp = path.with_suffix(".partial")
    with tmp.open("wb") as out:
        for index, tile in enumerate(mgrs_tiles()):
            if written >= count:
                break
            used.append(tile.code)
            taken = list(acquisitions(tile, index))
            l1c = shares(rng, len(taken))
            l2a = _nudged(l1c, rng.normal(0, 0.02, l1c.shape))  # the L2A model sees a little else
            per_level = {}
            for level, fractions in (("L1C", l1c), ("L2A", l2a)):
                counts = class_counts(fractions)
                percentages, cloud = pipeline_shares(counts)
                _checked(counts[0], percentages[0], float(cloud[0]))
                per_level[level] = (counts.tolist(), percentages.tolist(), cloud.tolist())
            for n, (when, platform, orbit) in enumerate(taken):
                for level in LEVELS:
                    if written >= count:
                        break
                    counts_, percentages_, cloud_ = per_level[level]
                    item = orjson.loads(templates[level])
                    shares_ = (counts_[n], percentages_[n], cloud_[n])
                    _fill(item, tile, level, (when, platform, orbit), shares_)
                    out.write(orjson.dumps(item) + b"\n")
                    written += 1
    path.with_suffix(".tiles.json").write_bytes(orjson.dumps(used))
    tmp.rename(path)
    return used


def _nudged(fractions: np.ndarray, drift: np.ndarray) -> np.ndarray:
    classes = np.clip(fractions[:, :5] + drift[:, :5] * (fractions[:, :5] > 0), 0, None)
    classes = classes / classes.sum(axis=1, keepdims=True)
    return np.column_stack([classes, fractions[:, 5]])


def _product_stub() -> dict[str, Any]:
    return {
        "id": "stub",
        "level": "L1C",
        "datetime": datetime(2023, 1, 1, tzinfo=UTC),
        "footprint": {},
        "bbox": (0.0, 0.0, 0.0, 0.0),
        "platform": "sentinel-2a",
        "mgrs_tile": "32UPU",
        "relative_orbit": 1,
        "processing_baseline": "05.09",
        "epsg": 32632,
    }


def cache_path(cache: Path, count: int, seed: int = 0) -> Path:
    """Where the NDJSON file of ``count`` items is kept."""
    return cache / f"europe-{count}-seed{seed}.ndjson"


def cached_items(cache: Path, count: int, seed: int = 0) -> tuple[Path, list[Tile]]:
    """The NDJSON file of ``count`` items, generated on first use, and the tiles it covers."""
    path = cache_path(cache, count, seed)
    if not path.is_file():
        generate(count, path, seed)
    return path, covered_tiles(path)


def covered_tiles(path: Path) -> list[Tile]:
    """The tiles of a generated file, nearest to the centre first."""
    codes = set(orjson.loads(path.with_suffix(".tiles.json").read_bytes()))
    return [t for t in mgrs_tiles() if t.code in codes]


def follow_batches(path: Path, size: int, poll_s: float = 0.5) -> Iterator[list[dict[str, Any]]]:
    """The items of ``path`` while :func:`generate` is still writing it (its ``.partial``
    file), ``size`` at a time: generating and loading a million items run side by side."""
    partial = path.with_suffix(".partial")
    if path.is_file() or not partial.exists():
        yield from read_batches(path, size)
        return
    batch: list[dict[str, Any]] = []
    rest = b""
    with partial.open("rb") as f:  # stays readable when the writer renames it at the end
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                if path.is_file() and not f.read(1):
                    break
                time.sleep(poll_s)
                continue
            *lines, rest = (rest + chunk).split(b"\n")
            for line in lines:
                batch.append(orjson.loads(line))
                if len(batch) == size:
                    yield batch
                    batch = []
    if rest.strip():
        batch.append(orjson.loads(rest))
    if batch:
        yield batch


def read_batches(path: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    """The items of an NDJSON file, ``size`` at a time."""
    batch: list[dict[str, Any]] = []
    with path.open("rb") as f:
        for line in f:
            batch.append(orjson.loads(line))
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch

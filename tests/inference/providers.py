"""One reflectance field, written the way each provider stores it, beside its real STAC item.

The items in ``tests/data/providers/`` are real (see its README); only their band hrefs are
rewritten, to files written here on a small window of the item's own tile grid, inside its
footprint. What differs between the providers' files is exactly what differs between the
providers: the -1000 offset in the DNs or not, COG or JPEG 2000, one file per band or one per
band and resolution. The field is constant on 20 m pixels, so that every resolution a
provider offers holds exactly the same reflectance.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
import rasterio.windows
import shapely
from affine import Affine
from pyproj import Transformer
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles
from shapely.geometry import box, shape

from inference.bands import BANDS_BY_ID, band_id, resolution_suffix
from inference.sample import SampleProduct

PROVIDERS = Path(__file__).resolve().parents[1] / "data" / "providers"
SIZE = 366  # 10 m pixels per side of the window written (whole 20 m and 60 m pixels)
NATIVE = {b: band.resolution for b, band in BANDS_BY_ID.items()} | {"SCL": 20}
JP2_OPTIONS = {"QUALITY": "100", "REVERSIBLE": "YES"}


@dataclass(frozen=True)
class Field:
    """Reflectance x 10000 without any offset, per band at its native resolution, and the SCL."""

    dn: dict[str, np.ndarray]

    def at(self, band: str, res: int) -> np.ndarray:
        """The band at ``res`` metres: 20 m blocks averaged (rounded) or repeated."""
        native = NATIVE[band]
        values = self.dn[band]
        if res == native:
            return values
        if res < native:
            factor = native // res
            return np.kron(values, np.ones((factor, factor), dtype=values.dtype))
        factor = res // native
        n = values.shape[0] // factor
        blocks = values.reshape(n, factor, n, factor).astype(np.float64)
        if band == "SCL":  # classes: the most frequent one (Sen2Cor resamples the SCL so too)
            flat = blocks.transpose(0, 2, 1, 3).reshape(n, n, -1).astype(np.int64)
            counts = np.stack([(flat == v).sum(axis=-1) for v in range(12)], axis=-1)
            return counts.argmax(axis=-1).astype(np.uint8)
        return np.rint(blocks.mean(axis=(1, 3))).astype(values.dtype)


def field_from_sample(sample: SampleProduct) -> Field:
    """The top-left SIZE x SIZE px of a sample STAC product of baseline 03.01 (DN = reflectance
    x 10000), a corner with data in every pixel when the sample is twice as large.

    The 10 m bands are averaged to 20 m and repeated back, so that a provider's 20 m file of a
    10 m band holds exactly the field too.
    """
    item = json.loads(sample.path.read_text())
    dn: dict[str, np.ndarray] = {}
    for key, asset in item["assets"].items():
        band = "SCL" if key == "scl" else band_id(key)
        if band is None:
            continue
        with rasterio.open(asset["href"]) as src:
            n = SIZE * 10 // round(src.res[0])
            values = src.read(1, window=rasterio.windows.Window(0, 0, n, n))
        assert values.all(), f"{key} has no data in the window"
        if band != "SCL" and NATIVE[band] == 10:
            n = values.shape[0] // 2
            mean = values.reshape(n, 2, n, 2).astype(np.float64).mean(axis=(1, 3))
            values = np.kron(np.rint(mean), np.ones((2, 2))).astype(values.dtype)
        dn[band] = values
    return Field(dn)


def _asset_band(key: str, asset: dict[str, Any]) -> tuple[str, int] | None:
    """(band or "SCL", resolution) of a provider's band asset; None for any other asset."""
    if key.endswith("-jp2") or key.upper().startswith(("AOT", "WVP", "TCI")):
        return None
    band = "SCL" if key.upper().split("_")[0] == "SCL" else band_id(key)
    if band is None:
        return None
    res = resolution_suffix(key) or asset.get("gsd")
    res = res or (asset.get("raster:bands") or [{}])[0].get("spatial_resolution")
    return band, int(res or NATIVE[band])


def _epsg(item: dict[str, Any]) -> int:
    props = item["properties"]
    if props.get("proj:epsg"):
        return int(props["proj:epsg"])
    codes = {a.get("proj:code") for a in item["assets"].values() if a.get("proj:code")}
    return int(next(iter(codes)).removeprefix("EPSG:"))


def window(item: dict[str, Any], size: int = SIZE) -> tuple[int, float, float]:
    """(EPSG, x0, y0) of a size x size px window of the item's 10 m tile grid in its footprint.

    The corner lies a whole number of 60 m pixels from the tile's, so every band's pixels of
    the window are pixels of the tile.
    """
    epsg = _epsg(item)
    ten = next(
        a["proj:transform"]
        for k, a in item["assets"].items()
        if (found := _asset_band(k, a)) and found[1] == 10 and a.get("proj:transform")
    )
    tile_x0, tile_y0 = float(ten[2]), float(ten[5])
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    footprint = shapely.transform(
        shape(item["geometry"]), lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1]))
    )
    side = size * 10.0
    inner = footprint.buffer(-side)
    point = inner.representative_point()
    x0 = tile_x0 + 60.0 * math.floor((point.x - tile_x0) / 60.0)
    y0 = tile_y0 - 60.0 * math.floor((tile_y0 - point.y) / 60.0)
    assert footprint.contains(box(x0, y0 - side, x0 + side, y0)), item["id"]
    return epsg, x0, y0


def write_raster(
    path: Path,
    values: np.ndarray,
    epsg: int,
    x0: float,
    y0: float,
    res: int,
    driver: str,
    levels: int | None = None,
) -> None:
    """A single-band COG or lossless JPEG 2000 file of ``values`` (nodata 0).

    ``levels``: the JPEG 2000 resolution levels (default: GDAL's, down to about 128 px).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": values.dtype.name,
        "crs": f"EPSG:{epsg}",
        "transform": Affine(res, 0.0, x0, 0.0, -res, y0),
        "nodata": 0,
    }
    tmp = path.with_name(path.name + ".src.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(values, 1)
    if driver == "COG":
        cog_translate(tmp, path, cog_profiles.get("deflate"), quiet=True)
    else:
        options = {**JP2_OPTIONS, **({"RESOLUTIONS": str(levels)} if levels else {})}
        rasterio.shutil.copy(tmp, path, driver="JP2OpenJPEG", **options)
        path.with_name(path.name + ".aux.xml").unlink(missing_ok=True)
    tmp.unlink()


def raw_dn(baseline: str) -> Callable[[np.ndarray], np.ndarray]:
    """ESA's encoding: the -1000 offset in the DNs from baseline 04.00 on."""
    shift = 1000 if baseline >= "04.00" else 0
    return lambda dn: np.where(dn > 0, dn + shift, 0).astype(dn.dtype)


def harmonised(dn: np.ndarray) -> np.ndarray:
    """Earth Search's sentinel-2-l2a encoding: the offset already taken out."""
    return dn


def provider_item(
    name: str,
    field: Field,
    dst: Path,
    encode: Callable[[np.ndarray], np.ndarray],
    driver: str,
    *,
    href: Callable[[str, Path], str] | None = None,
    levels: int | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
    label: str | None = None,
) -> Path:
    """Write the field as the real item ``name`` stores it; return the item's new path.

    Every band asset's file is written under ``dst`` (named after its asset key) and its href
    rewritten to that file, or to ``href(original, file)`` when given. ``levels``: JPEG 2000
    resolution levels (see :func:`write_raster`); ``edit`` changes the item first (a test of
    a known metadata error); ``label`` names the folder (default: ``name``).
    """
    item = json.loads((PROVIDERS / f"{name}.json").read_text())
    if edit is not None:
        edit(item)
    folder = dst / (label or name)
    epsg, x0, y0 = window(item)
    for key, asset in item["assets"].items():
        found = _asset_band(key, asset)
        if found is None:
            continue
        band, res = found
        values = field.at(band, res)
        values = values if band == "SCL" else encode(values)
        suffix = ".tif" if driver == "COG" else ".jp2"
        path = folder / f"{key}{suffix}"
        write_raster(path, values, epsg, x0, y0, res, driver, levels)
        asset["href"] = href(asset["href"], path) if href else str(path)
    out = folder / f"{name}.json"
    out.write_text(json.dumps(item))
    return out


def safe_product(
    field: Field, dst: Path, level: str, baseline: str, levels: int | None = None
) -> Path:
    """A SAFE product of ``level`` and ``baseline`` holding the field, as ESA writes it.

    A generated SAFE (:func:`inference.sample.write_sample_product`) whose band images are
    replaced by the field's, with its RADIO_ADD_OFFSET / BOA_ADD_OFFSET in the DNs, and whose
    footprint is widened to the whole window (the generated one cuts a corner off).
    """
    from inference.sample import write_sample_product

    sample = write_sample_product(dst, size=SIZE, level=level, baseline=baseline, seed=11)
    mtd = next(sample.path.glob("MTD_MSIL*.xml"))
    text = mtd.read_text()
    encode = raw_dn(baseline)
    bounds = None
    for image in re.findall(r"<IMAGE_FILE>([^<]+)</IMAGE_FILE>", text):
        match = re.search(r"_(B\d{2}|B8A|SCL)(?:_(\d+)m)?$", image)
        if not match:
            continue  # TCI
        band = "SCL" if match.group(1) == "SCL" else str(band_id(match.group(1)))
        res = int(match.group(2) or NATIVE[band])
        path = sample.path / f"{image}.jp2"
        with rasterio.open(path) as src:
            epsg, t = src.crs.to_epsg(), src.transform
            bounds = src.bounds
        values = field.at(band, res)
        values = values if band == "SCL" else encode(values)
        write_raster(path, values, epsg, t.c, t.f, res, "JP2", levels)
    assert bounds is not None
    to_lonlat = Transformer.from_crs(epsg, 4326, always_xy=True).transform
    corners = [(bounds.left, bounds.top), (bounds.right, bounds.top)]
    corners += [(bounds.right, bounds.bottom), (bounds.left, bounds.bottom), corners[0]]
    ring = [to_lonlat(x, y) for x, y in corners]
    pos = " ".join(f"{lat!r} {lon!r}" for lon, lat in ring)
    footprint = f"<EXT_POS_LIST>{pos}</EXT_POS_LIST>"
    mtd.write_text(re.sub(r"<EXT_POS_LIST>[^<]+</EXT_POS_LIST>", footprint, text))
    return sample.path

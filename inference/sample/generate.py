"""``write_sample_product``: a generated Sentinel-2 product and its truth, in one call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import rasterio

from inference.sample.context import ProductContext, check_spec
from inference.sample.safe import write_safe
from inference.sample.scene import Scene
from inference.sample.stac import write_stac

_GDAL_CACHE_MB = 128


@dataclass(frozen=True)
class SampleProduct:
    """A written sample product: where it is, its id, and its truth mask."""

    path: Path  # the SAFE directory, or the STAC item JSON for fmt="stac"
    product_id: str  # the SAFE product id, or the STAC item id for fmt="stac"
    truth_path: Path  # <outdir>/<product_id>.truth.tif, 10 m, KappaMask legend
    class_counts: dict[int, int] = field(default_factory=dict)  # truth pixels per legend value


def write_sample_product(
    outdir: Path,
    *,
    size: int = 1098,
    level: str = "L1C",
    baseline: str = "05.09",
    seed: int = 0,
    date: date | None = None,
    tile: str = "32UQD",
    fmt: str = "safe",
) -> SampleProduct:
    """Generate a Sentinel-2 product (SAFE, or STAC and COGs) with clouds, shadows and truth."""
    spec = check_spec(
        size=size, level=level, baseline=baseline, seed=seed, day=date, tile=tile, fmt=fmt
    )
    ctx = ProductContext.create(spec)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    scene = Scene(spec.size, spec.seed, ctx.acq.sun_zenith, ctx.acq.sun_azimuth, spec.level)
    # A small GDAL block cache: the bands stream through it once, and the default (5 % of RAM)
    # would keep a whole 10 m band of every encoder in memory.
    with rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB):
        if spec.fmt == "safe":
            path, counts = write_safe(ctx, scene, outdir)
            product_id = ctx.product_id
        else:
            path, counts = write_stac(ctx, scene, outdir)
            product_id = ctx.item_id
    return SampleProduct(path, product_id, outdir / f"{product_id}.truth.tif", counts)

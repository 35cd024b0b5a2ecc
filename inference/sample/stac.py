"""Writing a sample product as per-band COGs and an Earth Search v1 style STAC item."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pystac

from catalog.legend import cloud_percent
from inference.sample.bands import BANDS_BY_NAME, Band
from inference.sample.context import ProductContext
from inference.sample.raster import RasterWriter, transform_for, write_truth
from inference.sample.safe import scl_percentages
from inference.sample.scene import Scene

COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json",
]
LICENSE_HREF = "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"


def write_stac(ctx: ProductContext, scene: Scene, outdir: Path) -> tuple[Path, dict[int, int]]:
    """Write ``<item_id>/`` (COGs and ``<item_id>.json``) and the truth; return item and counts."""
    item_dir = outdir / ctx.item_id
    work = outdir / f".{ctx.item_id}.partial"
    shutil.rmtree(work, ignore_errors=True)
    # Each band once, at its native resolution, in band order (as Earth Search serves them).
    bands = sorted((b for b, res in ctx.bands() if b.resolution == res), key=lambda b: b.band_id)
    try:
        scl_counts = np.zeros(12, dtype=np.int64)
        with RasterWriter(ctx, scene) as writer:
            for band in bands:
                writer.band(band.name, band.resolution, work / f"{band.name}.tif", "COG")
            writer.tci(10, work / "TCI.tif", "COG")
            if ctx.spec.level == "L2A":
                scl_counts = writer.scl(20, work / "SCL.tif", "COG")
            truth = write_truth(ctx, scene, outdir / f"{ctx.item_id}.truth.tif")
        if item_dir.exists():
            shutil.rmtree(item_dir)
        os.replace(work, item_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        (outdir / f"{ctx.item_id}.truth.tif").unlink(missing_ok=True)
        raise
    item = build_item(ctx, item_dir, bands, cloud_percent(truth), scl_counts)
    path = item_dir / f"{ctx.item_id}.json"
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(item.to_dict(include_self_link=False), indent=2) + "\n")
    os.replace(partial, path)
    return path, truth


def build_item(
    ctx: ProductContext,
    item_dir: Path,
    bands: list[Band],
    cloud_cover: float,
    scl_counts: np.ndarray,
) -> pystac.Item:
    """The STAC item of the written COGs, shaped like Earth Search v1 ``sentinel-2-l1c/l2a``."""
    spec, acq, grid = ctx.spec, ctx.acq, ctx.grid
    ring = ctx.footprint_lonlat()
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    properties: dict[str, Any] = {
        "created": acq.generation_time.isoformat().replace("+00:00", "Z"),
        "platform": f"sentinel-2{acq.platform[-1].lower()}",
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": round(cloud_cover, 4),
        "proj:epsg": grid.epsg,
        "mgrs:utm_zone": grid.zone,
        "mgrs:latitude_band": grid.latitude_band,
        "mgrs:grid_square": grid.grid_square,
        "grid:code": f"MGRS-{grid.tile}",
        "view:sun_azimuth": round(acq.sun_azimuth, 6),
        "view:sun_elevation": round(90.0 - acq.sun_zenith, 6),
        "sat:relative_orbit": grid.relative_orbit,
        "sat:absolute_orbit": acq.absolute_orbit,
        "sat:orbit_state": "descending",
        "s2:processing_baseline": spec.baseline,
        "s2:product_uri": f"{ctx.product_id}.SAFE",
        "s2:product_type": f"S2MSI{spec.level[1:]}",
        "s2:datatake_id": ctx.datatake_id,
        "s2:datatake_type": "INS-NOBS",
        "s2:datastrip_id": ctx.datastrip_id,
        "s2:tile_id": ctx.tile_id,
        "s2:generation_time": acq.generation_time.isoformat().replace("+00:00", "Z"),
        "s2:reflectance_conversion_factor": acq.earth_sun_u,
        "s2:degraded_msi_data_percentage": 0.0,
    }
    if spec.level == "L2A":
        for key, value in scl_percentages(scl_counts).items():
            properties[f"s2:{key.lower()}"] = round(value, 6)
    item = pystac.Item(
        id=ctx.item_id,
        geometry={"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        bbox=[min(lons), min(lats), max(lons), max(lats)],
        datetime=acq.sensing_time,
        properties=properties,
        stac_extensions=list(EXTENSIONS),
    )
    offset = spec.radiometric_offset / spec.quantification
    for band in bands:
        item.add_asset(band.asset_key, _band_asset(ctx, item_dir, band, offset))
    item.add_asset(
        "visual",
        pystac.Asset(
            href=str(item_dir / "TCI.tif"),
            media_type=COG_TYPE,
            title="True color image",
            roles=["visual"],
            extra_fields={
                "eo:bands": [_eo_band(BANDS_BY_NAME[n]) for n in ("B04", "B03", "B02")],
                "gsd": 10,
                **_proj(ctx, 10),
            },
        ),
    )
    if spec.level == "L2A":
        item.add_asset(
            "scl",
            pystac.Asset(
                href=str(item_dir / "SCL.tif"),
                media_type=COG_TYPE,
                title="Scene classification map (SCL)",
                roles=["data"],
                extra_fields={
                    "gsd": 20,
                    **_proj(ctx, 20),
                    "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
                },
            ),
        )
    item.add_link(pystac.Link("license", LICENSE_HREF, title="Sentinel Data Legal Notice"))
    return item


def _eo_band(band: Band) -> dict[str, Any]:
    return {
        "name": band.name,
        "common_name": band.common_name,
        "description": band.description,
        "center_wavelength": band.center,
        "full_width_half_max": band.fwhm,
    }


def _proj(ctx: ProductContext, res: int) -> dict[str, Any]:
    n = ctx.spec.size * 10 // res
    return {"proj:shape": [n, n], "proj:transform": list(transform_for(ctx, res))[:6]}


def _band_asset(ctx: ProductContext, item_dir: Path, band: Band, offset: float) -> pystac.Asset:
    res = band.resolution
    return pystac.Asset(
        href=str(item_dir / f"{band.name}.tif"),
        media_type=COG_TYPE,
        title=f"{band.description} - {res}m",
        roles=["data", "reflectance"],
        extra_fields={
            "eo:bands": [_eo_band(band)],
            "gsd": res,
            **_proj(ctx, res),
            "raster:bands": [
                {
                    "nodata": 0,
                    "data_type": "uint16",
                    "bits_per_sample": 15,
                    "spatial_resolution": res,
                    "scale": 1.0 / ctx.spec.quantification,
                    "offset": offset,
                }
            ],
        },
    )

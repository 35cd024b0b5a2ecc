"""Writing a sample product as a SAFE directory (compact naming, JPEG 2000 bands)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from catalog.legend import cloud_percent
from inference.sample.context import ProductContext
from inference.sample.manifest import DataObject, manifest
from inference.sample.raster import RasterWriter, write_truth
from inference.sample.safe_xml import product_mtd, tile_mtd
from inference.sample.scene import Scene

_SCL_QI_KEYS = {
    0: "NODATA_PIXEL_PERCENTAGE",
    1: "SATURATED_DEFECTIVE_PIXEL_PERCENTAGE",
    2: "DARK_FEATURES_PERCENTAGE",
    3: "CLOUD_SHADOW_PERCENTAGE",
    4: "VEGETATION_PERCENTAGE",
    5: "NOT_VEGETATED_PERCENTAGE",
    6: "WATER_PERCENTAGE",
    7: "UNCLASSIFIED_PERCENTAGE",
    8: "MEDIUM_PROBA_CLOUDS_PERCENTAGE",
    9: "HIGH_PROBA_CLOUDS_PERCENTAGE",
    10: "THIN_CIRRUS_PERCENTAGE",
    11: "SNOW_ICE_PERCENTAGE",
}


def layers(ctx: ProductContext) -> list[tuple[str, int]]:
    """(band or SCL, resolution) of every image file, in the order real products list them."""
    out: list[tuple[str, int]] = []
    for res in (10, 20, 60):
        out += [(band.name, r) for band, r in ctx.bands() if r == res]
        if ctx.spec.level == "L1C" and res == 60:
            out.append(("TCI", 10))
        elif ctx.spec.level == "L2A":
            out.append(("TCI", res))
            if res in (20, 60):
                out.append(("SCL", res))
    return out


def scl_percentages(counts: np.ndarray) -> dict[str, float]:
    """The Image_Content_QI percentages of an L2A tile from its SCL class counts."""
    total = float(counts.sum())
    valid = total - float(counts[0])
    out = {_SCL_QI_KEYS[0]: 100.0 * float(counts[0]) / total if total else 0.0}
    for value in range(1, 12):
        out[_SCL_QI_KEYS[value]] = 100.0 * float(counts[value]) / valid if valid else 0.0
    return out


def write_safe(ctx: ProductContext, scene: Scene, outdir: Path) -> tuple[Path, dict[int, int]]:
    """Write ``<product_id>.SAFE`` and the truth into ``outdir``; return the SAFE and truth counts.

    The SAFE is assembled under a hidden name and moved into place when complete.
    """
    level = ctx.spec.level
    safe_dir = outdir / f"{ctx.product_id}.SAFE"
    work = outdir / f".{ctx.product_id}.SAFE.partial"
    shutil.rmtree(work, ignore_errors=True)
    granule = f"GRANULE/{ctx.granule_name}"
    try:
        objects: list[DataObject] = []
        image_files: list[str] = []
        scl_counts = np.zeros(12, dtype=np.int64)
        per_res: dict[int, int] = {}
        with RasterWriter(ctx, scene) as writer:
            for name, res in layers(ctx):
                relpath = ctx.image_file(name, res)
                image_files.append(relpath)
                target = work / f"{relpath}.jp2"
                if name == "TCI":
                    writer.tci(res, target, "JP2OpenJPEG")
                elif name == "SCL":
                    counts = writer.scl(res, target, "JP2OpenJPEG")
                    if res == 20:
                        scl_counts = counts
                else:
                    writer.band(name, res, target, "JP2OpenJPEG")
                per_res[res] = per_res.get(res, 0) + 1
                object_id = (
                    f"IMG_DATA_Band_{res}m_{per_res[res]}_Tile1_Data"
                    if level == "L1C"
                    else f"IMG_DATA_Band_{name}_{res}m_Tile1_Data"
                )
                objects.append(DataObject(object_id, f"{relpath}.jp2", "application/octet-stream"))
            truth = write_truth(ctx, scene, outdir / f"{ctx.product_id}.truth.tif")
        clouds = cloud_percent(truth)
        qi = scl_percentages(scl_counts) if level == "L2A" else {}
        tile_rel = f"{granule}/MTD_TL.xml"
        (work / tile_rel).write_text(tile_mtd(ctx, clouds, qi), encoding="utf-8")
        product_rel = f"MTD_MSI{level}.xml"
        (work / product_rel).write_text(product_mtd(ctx, image_files, clouds), encoding="utf-8")
        for folder in ("AUX_DATA", "DATASTRIP", "HTML", "rep_info", f"{granule}/AUX_DATA"):
            (work / folder).mkdir(parents=True, exist_ok=True)
        (work / granule / "QI_DATA").mkdir(exist_ok=True)
        meta = [
            DataObject(f"S2_Level-{level[1:]}_Product_Metadata", product_rel, "text/xml"),
            DataObject(f"S2_Level-{level[1:]}_Tile1_Metadata", tile_rel, "text/xml"),
        ]
        text = manifest(ctx, work, meta + objects)
        (work / "manifest.safe").write_text(text, encoding="utf-8")
        if safe_dir.exists():
            shutil.rmtree(safe_dir)
        os.replace(work, safe_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        (outdir / f"{ctx.product_id}.truth.tif").unlink(missing_ok=True)
        raise
    return safe_dir, truth

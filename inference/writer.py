"""Writing the mask: a 10 m uint8 COG with the legend, a PNG thumbnail, and class counts.

Both files are written under temporary names beside their destination and moved into place
with ``os.replace`` only when complete, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from catalog.legend import LEGEND, NODATA, legend_colormap
from inference.grid import Grid
from inference.settings import DEFAULT_COMPRESSION

BLOCK = 512


def class_counts(classes: np.ndarray, rows: int = 512) -> dict[int, int]:
    """Pixels per legend value (0-5, every value present as a key), counted in row blocks."""
    counts = np.zeros(256, dtype=np.int64)
    for row0 in range(0, classes.shape[0], rows):
        counts += np.bincount(classes[row0 : row0 + rows].ravel(), minlength=256)
    return {c.value: int(counts[c.value]) for c in LEGEND}


def legend_tags() -> dict[str, str]:
    """The legend as GDAL metadata items (one per class, and the whole legend as JSON)."""
    tags = {f"CLASS_{c.value}": f"{c.name}: {c.description}" for c in LEGEND}
    tags["LEGEND"] = json.dumps([c.to_json() for c in LEGEND])
    return tags


def cog_profile(compression: str) -> dict[str, Any]:
    """rio-cogeo's named profile for ``compression`` (512 px tiles), without a predictor.

    Class maps are runs of equal values: the horizontal predictor turns each class edge into
    two odd differences and makes them compress worse (a full product's mask: 1.80 MB with
    it, 1.66 MB without, ZSTD level 9, and faster to write).
    """
    with warnings.catch_warnings():
        # rio-cogeo's reminder that ZSTD needs a recent libtiff (the codec is a choice,
        # BENCHMARKS.md weighs it): said once in the docs, not for every mask written
        warnings.filterwarnings("ignore", "Non-standard compression schema", UserWarning)
        named = cog_profiles.get(compression.lower())
    profile: dict[str, Any] = {
        **named,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "predictor": 1,
        "num_threads": "ALL_CPUS",
    }
    if compression == "DEFLATE":
        profile["zlevel"] = 6
    else:
        profile["zstd_level"] = 9  # higher levels cost much more time for little gain
    return profile


@contextmanager
def staged(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, moved onto it on success and removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.aux.xml").unlink(missing_ok=True)


def write_mask_cog(
    classes: np.ndarray,
    grid: Grid,
    dst: Path,
    *,
    compression: str = DEFAULT_COMPRESSION,
    tags: dict[str, str] | None = None,
) -> None:
    """Write the class map (rows, cols) as a COG at ``dst`` (atomically)."""
    height, width = classes.shape
    src_profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "nodata": NODATA,
        "crs": grid.crs,
        "transform": grid.transform,
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
    }
    with MemoryFile() as memfile:
        with memfile.open(**src_profile) as mem:
            mem.write(classes, 1)
            mem.write_colormap(1, legend_colormap())
            mem.set_band_description(1, "cloud mask (KappaMask legend)")
        with memfile.open() as src, staged(dst) as tmp:
            cog_translate(
                src,
                str(tmp),
                cog_profile(compression),
                nodata=NODATA,
                overview_resampling="mode",
                in_memory=True,
                quiet=True,
                additional_cog_metadata={**legend_tags(), **(tags or {})},
                config={"GDAL_NUM_THREADS": "ALL_CPUS", "GDAL_TIFF_OVR_BLOCKSIZE": str(BLOCK)},
            )


def write_thumbnail(classes: np.ndarray, dst: Path, size: int = 256) -> None:
    """Write a small RGBA PNG of the mask in the legend colours (no data transparent)."""
    height, width = classes.shape
    step = max(1, int(np.ceil(max(height, width) / size)))
    small = classes[step // 2 :: step, step // 2 :: step]
    palette = np.zeros((256, 4), dtype=np.uint8)
    for value, rgba in legend_colormap().items():
        palette[value] = rgba
    rgba = np.moveaxis(palette[small], -1, 0)
    profile = {
        "driver": "PNG",
        "width": small.shape[1],
        "height": small.shape[0],
        "count": 4,
        "dtype": "uint8",
    }
    with staged(dst) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", **profile) as out:
            out.write(rgba)

"""Writing the scene's rasters: bands as JPEG 2000 or COG, the SCL, and the truth GeoTIFF.

A band is computed in row blocks into an uncompressed temporary GeoTIFF, then encoded by GDAL
(JP2OpenJPEG or COG) on a worker thread, so that encoding one band overlaps computing the next
and memory stays at a few blocks whatever the size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine

from catalog.legend import LEGEND, legend_colormap
from inference.sample.context import ProductContext
from inference.sample.scene import Scene
from inference.writer import legend_tags

_BLOCK_PIXELS = 6_000_000  # pixels per computed row block
# OpenJPEG encodes one band on one core here (the driver takes no NUM_THREADS), hence the two
# encoding threads of RasterWriter.
JP2_OPTIONS = {
    "QUALITY": "100",
    "REVERSIBLE": "YES",  # lossless, as the reflectance must survive exactly
    "BLOCKXSIZE": "1024",
    "BLOCKYSIZE": "1024",
}
COG_OPTIONS = {
    "COMPRESS": "DEFLATE",
    "PREDICTOR": "2",
    "BLOCKSIZE": "512",
    "OVERVIEW_RESAMPLING": "AVERAGE",
    "NUM_THREADS": "ALL_CPUS",
}


def transform_for(ctx: ProductContext, res: int) -> Affine:
    """The geotransform of the res-metre grid of the sample."""
    return Affine(res, 0.0, ctx.grid.ulx, 0.0, -res, ctx.grid.uly)


def to_dn(reflectance: np.ndarray, quantification: int, offset: int) -> np.ndarray:
    """Digital numbers: DN = round(reflectance * Q) - offset; NaN (no data) gives 0.

    Rounding comes before the offset, so that products of every baseline hold the same
    reflectance; it is kept within 1..65534 - 1000 for the same reason.
    """
    dn = reflectance * np.float32(quantification)
    np.rint(dn, out=dn)
    np.clip(dn, 1.0, 64534.0, out=dn)
    dn -= np.float32(offset)
    dn[np.isnan(reflectance)] = 0.0
    return dn.astype(np.uint16)


def row_blocks(height: int, width: int) -> Iterator[tuple[int, int]]:
    """(row0, row1) blocks of about _BLOCK_PIXELS pixels."""
    step = max(1, _BLOCK_PIXELS // width)
    for row0 in range(0, height, step):
        yield row0, min(height, row0 + step)


class RasterWriter:
    """Computes rasters block by block and encodes them on two worker threads."""

    def __init__(self, ctx: ProductContext, scene: Scene, workers: int = 2) -> None:
        self.ctx = ctx
        self.scene = scene
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sample-encode")
        self._pending: list[Future[None]] = []
        self._workers = workers

    def __enter__(self) -> RasterWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)

    def wait(self) -> None:
        """Wait for every submitted encoding; raise the first error."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def band(self, name: str, res: int, dst: Path, driver: str) -> None:
        """Write one band at ``res`` metres to ``dst`` (driver ``JP2OpenJPEG`` or ``COG``)."""
        spec = self.ctx.spec
        base = self.scene.band_base(name)

        def block(row0: int, row1: int) -> np.ndarray:
            refl = self.scene.band_block(name, base, res, row0, row1)
            return to_dn(refl, spec.quantification, spec.radiometric_offset)

        self._write(block, res, "uint16", dst, driver)

    def scl(self, res: int, dst: Path, driver: str) -> np.ndarray:
        """Write the scene classification at ``res`` metres; return its class counts (0..11)."""
        counts = np.zeros(12, dtype=np.int64)

        def block(row0: int, row1: int) -> np.ndarray:
            values = self.scene.scl_block(res, row0, row1)
            counts[:] += np.bincount(values.ravel(), minlength=12)[:12]
            return values

        self._write(block, res, "uint8", dst, driver)
        return counts

    def tci(self, res: int, dst: Path, driver: str) -> None:
        """Write the 8-bit true colour image (B04, B03, B02; reflectance 0..0.2 to 1..255)."""
        bases = {name: self.scene.band_base(name) for name in ("B04", "B03", "B02")}

        def block(row0: int, row1: int) -> np.ndarray:
            out = []
            for name, base in bases.items():
                refl = self.scene.band_block(name, base, res, row0, row1)
                value = np.clip(np.rint(refl * np.float32(1275.0)), 1.0, 255.0)
                value[np.isnan(refl)] = 0.0
                out.append(value.astype(np.uint8))
            return np.stack(out)

        self._write(block, res, "uint8", dst, driver, count=3)

    def _write(
        self,
        block: Callable[[int, int], np.ndarray],
        res: int,
        dtype: str,
        dst: Path,
        driver: str,
        count: int = 1,
    ) -> None:
        n = self.ctx.spec.size * 10 // res
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp.tif")
        profile = {
            "driver": "GTiff",
            "width": n,
            "height": n,
            "count": count,
            "dtype": dtype,
            "crs": f"EPSG:{self.ctx.grid.epsg}",
            "transform": transform_for(self.ctx, res),
        }
        if driver == "COG":
            profile["nodata"] = 0
        with rasterio.open(tmp, "w", **profile) as out:
            for row0, row1 in row_blocks(n, n):
                window = rasterio.windows.Window(0, row0, n, row1 - row0)
                values = block(row0, row1)
                if count == 1:
                    out.write(values, 1, window=window)
                else:
                    out.write(values, window=window)
        if len(self._pending) >= self._workers:  # keep at most a few temporary files around
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(_encode, tmp, dst, driver))


def _encode(tmp: Path, dst: Path, driver: str) -> None:
    """Encode a temporary GeoTIFF into its final format, then remove it."""
    try:
        options = JP2_OPTIONS if driver == "JP2OpenJPEG" else COG_OPTIONS
        partial = dst.with_name(dst.stem + ".part" + dst.suffix)
        rasterio.shutil.copy(tmp, partial, driver=driver, **options)
        aux = partial.with_name(partial.name + ".aux.xml")
        if aux.exists():
            aux.unlink()
        os.replace(partial, dst)
    finally:
        tmp.unlink(missing_ok=True)


def write_truth(ctx: ProductContext, scene: Scene, dst: Path) -> dict[int, int]:
    """Write the 10 m KappaMask-legend truth GeoTIFF; return its class counts (0..5)."""
    n = ctx.spec.size
    counts = np.zeros(len(LEGEND), dtype=np.int64)
    profile = {
        "driver": "GTiff",
        "width": n,
        "height": n,
        "count": 1,
        "dtype": "uint8",
        "nodata": 0,
        "crs": f"EPSG:{ctx.grid.epsg}",
        "transform": transform_for(ctx, 10),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "predictor": 2,
    }
    partial = dst.with_name(dst.name + ".part.tif")
    with _removed_on_error(partial):
        with rasterio.open(partial, "w", **profile) as out:
            for row0, row1 in row_blocks(n, n):
                values = scene.truth_block(row0, row1)
                counts += np.bincount(values.ravel(), minlength=len(LEGEND))[: len(LEGEND)]
                out.write(values, 1, window=rasterio.windows.Window(0, row0, n, row1 - row0))
            out.write_colormap(1, legend_colormap())
            out.update_tags(1, **legend_tags())
            out.update_tags(PRODUCT_ID=ctx.product_id, SEED=str(ctx.spec.seed))
            out.set_band_description(1, "truth (KappaMask legend)")
        os.replace(partial, dst)
    return {value: int(count) for value, count in enumerate(counts)}


@contextmanager
def _removed_on_error(path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise

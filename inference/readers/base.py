"""What every product reader offers: metadata, the 10 m grid, and windowed reflectance reads.

A reader lists, for each band, the raster files that hold it (SAFE L2A products hold a band at
several resolutions). A :class:`WindowReader` then reads blocks of rows of the processing grid:
each band is decoded at the coarsest level its file offers (JPEG 2000 resolution levels, COG
overviews) that is still at least as fine as the processing grid, and resampled exactly to it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.session import Session
from rasterio.windows import Window

from inference.errors import InferenceError, ProductError, read_failure
from inference.footprint import Footprint, FootprintMask
from inference.grid import Grid, axis_overlaps, resample_block, source_span
from inference.product import ProductInfo

_EPS = 1e-6
READ_ERRORS: tuple[type[BaseException], ...] = (RasterioError, OSError, ValueError)
TILE_SIDE_M = 109_800.0
"""Side of the MGRS tile that every Sentinel-2 L1C and L2A product is cut to."""
MAX_SIDE_PX = 10_980
"""The most pixels a band file of a tile can have per side: the tile at 10 m."""


@dataclass(frozen=True)
class BandFile:
    """One raster file holding a band: reflectance = (DN + dn_offset) * scale; DN == nodata is
    invalid.

    The offset is kept in DN, as ESA states it (RADIO_ADD_OFFSET, BOA_ADD_OFFSET): added to the
    whole numbers a file holds before any resampling, it is exact, so the same reflectance
    stored with and without the offset reads back bit for bit.
    """

    band: str  # a band id ("B02"), or "SCL" for the scene classification
    path: str  # a GDAL path (local, /vsizip/, /vsicurl/, /vsis3/)
    resolution: float  # nominal metres
    scale: float
    dn_offset: float = 0.0
    nodata: float | None = 0.0

    @property
    def offset(self) -> float:
        """The offset in reflectance (as STAC's raster extension states it)."""
        return self.dn_offset * self.scale


def gdal_options() -> dict[str, Any]:
    """GDAL configuration for reading bands.

    GDAL's configuration is process-wide: it is set by the thread that creates a reader, for
    the reader's lifetime, never by the threads that read (leaving a ``rasterio.Env`` there
    would clear it for everyone). JPEG 2000 tiles are decoded on one thread per band, as GDAL's
    multi-threaded JPEG 2000 decoding can hide decoding errors; bands are read in parallel.
    """
    return {
        "GDAL_NUM_THREADS": "1",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.jp2,.TIF,.JP2",
        "GDAL_HTTP_MAX_RETRY": "3",
        "GDAL_HTTP_RETRY_DELAY": "1",
    }


class ProductReader:
    """A Sentinel-2 product opened for reading. Subclasses fill in the attributes."""

    name: str  # the product's id, for messages (known before the rest of ``info``)
    info: ProductInfo
    grid: Grid  # the product's 10 m grid
    footprint: Footprint
    files: dict[str, list[BandFile]]  # band id -> files holding it

    def __enter__(self) -> ProductReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release whatever the reader holds open."""

    def gdal_env(self) -> dict[str, str]:
        """GDAL configuration for reading this product's files (see :func:`gdal_options`)."""
        return gdal_options()

    def gdal_session(self) -> Session | None:
        """Credentials for reading this product's files (None: GDAL's own defaults)."""
        return None

    def env(self) -> rasterio.Env:
        """A rasterio environment with this product's configuration and credentials."""
        return rasterio.Env(session=self.gdal_session(), **self.gdal_env())

    def fail(self, problem: str) -> ProductError:
        """A ProductError naming this product."""
        return ProductError(self.name, problem)

    def read_failed(self, problem: str, exc: BaseException) -> InferenceError:
        """A failed read: SourceUnavailableError if the server did not answer, else ProductError."""
        return read_failure(self.name, problem, exc)

    def check_bands(self, bands: Iterable[str]) -> None:
        """Raise ProductError unless every band is present and its files look whole."""
        missing = [b for b in bands if not self.files.get(b)]
        if missing:
            raise self.fail(f"missing band(s) {', '.join(missing)}")

    def check_shape(self, file: BandFile, width: int, height: int, pixel_m: float) -> None:
        """Refuse a band file whose declared size no Sentinel-2 tile has, before any allocation.

        A file's header alone says how many pixels it holds; a damaged or hostile one can
        declare 200 000 x 200 000, and the arrays sized from it would not fit in memory.
        """
        side_m = max(width, height) * pixel_m
        if max(width, height) <= MAX_SIDE_PX and side_m <= TILE_SIDE_M + pixel_m:
            return
        name = PurePosixPath(file.path).name
        raise self.fail(
            f"band {file.band} ({name}) declares {width} x {height} px of {pixel_m:g} m "
            f"({side_m / 1000:g} km); a Sentinel-2 tile is at most {MAX_SIDE_PX} x {MAX_SIDE_PX}"
            f" px and {TILE_SIDE_M / 1000:g} km a side"
        )

    def check_files(self, files: Sequence[BandFile]) -> None:
        """Raise ProductError if a file about to be read is visibly broken (default: no check)."""

    def band_file(self, band: str, resolution: float) -> BandFile:
        """The file to read a band from for a processing resolution: the coarsest not coarser."""
        files = self.files.get(band)
        if not files:
            raise self.fail(f"missing band {band}")
        fine_enough = [f for f in files if f.resolution <= resolution * (1 + _EPS)]
        if fine_enough:
            return max(fine_enough, key=lambda f: f.resolution)
        return min(files, key=lambda f: f.resolution)

    def footprint_mask(self, grid: Grid | None = None) -> FootprintMask:
        """The footprint rasteriser for a grid (default: the 10 m grid)."""
        return FootprintMask(self.footprint, grid or self.grid)

    def window_reader(
        self, bands: Sequence[str], resolution: float, threads: int = 1
    ) -> WindowReader:
        """A reader of row blocks of ``bands`` as reflectance on the grid at ``resolution``."""
        self.check_bands(bands)
        files = [self.band_file(b, resolution) for b in bands]
        self.check_files(files)
        return WindowReader(self, files, self.grid.at(resolution), threads)

    def read(
        self, bands: Sequence[str], row0: int, row1: int, resolution: float = 10.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reflectance (bands, rows, cols) and validity of rows [row0, row1) at ``resolution``."""
        with self.window_reader(bands, resolution) as reader:
            return reader.read(row0, row1)


class _BandReader:
    """Reads one band file in row blocks of a target grid."""

    def __init__(self, product: ProductReader, file: BandFile, grid: Grid) -> None:
        self.product = product
        self.file = file
        self.grid = grid
        try:
            self.ds = rasterio.open(file.path)
        except READ_ERRORS as exc:
            problem = f"cannot open band {file.band} ({file.path}): {exc}"
            raise product.read_failed(problem, exc) from exc
        try:
            self._setup()
        except BaseException:
            self.ds.close()
            raise

    def _setup(self) -> None:
        ds, grid = self.ds, self.grid
        self.product.check_shape(self.file, ds.width, ds.height, abs(ds.transform.a))
        if ds.crs is not None and grid.crs is not None and ds.crs != grid.crs:
            raise self.product.fail(f"band {self.file.band} is in {ds.crs}, not {grid.crs}")
        native = abs(ds.transform.a)
        factors = [1, *ds.overviews(1)]
        usable = [f for f in factors if native * f <= grid.res * (1 + _EPS)]
        self.factor = max(usable) if usable else 1
        self.width = math.ceil(ds.width / self.factor)
        self.height = math.ceil(ds.height / self.factor)
        pix_x = native * ds.width / self.width
        pix_y = abs(ds.transform.e) * ds.height / self.height
        self.pix_y = pix_y
        self.y_offset = grid.y0 - ds.transform.f
        x_offset = ds.transform.c - grid.x0
        cols, self.col_sums = axis_overlaps(
            np.arange(grid.width), grid.res, self.width, pix_x, x_offset
        )
        self.cols_t = cols.T.tocsr()

    def read(self, row0: int, row1: int) -> tuple[np.ndarray, np.ndarray]:
        rows, row_sums = axis_overlaps(
            np.arange(row0, row1), self.grid.res, self.height, self.pix_y, self.y_offset
        )
        s0, s1 = source_span(rows)
        if s1 <= s0:
            empty = np.zeros((row1 - row0, self.grid.width), dtype=np.float32)
            return empty, empty.astype(bool)
        rows = rows[:, s0:s1]
        f, ds = self.factor, self.ds
        window = Window(0, s0 * f, ds.width, min(s1 * f, ds.height) - s0 * f)
        try:
            dn = ds.read(
                1, window=window, out_shape=(s1 - s0, self.width), resampling=Resampling.average
            )
        except READ_ERRORS as exc:
            problem = f"cannot read band {self.file.band} ({self.file.path}): {exc}"
            raise self.product.read_failed(problem, exc) from exc
        data = dn.astype(np.float32)
        if self.file.dn_offset:
            data += np.float32(self.file.dn_offset)  # whole numbers: exact
        full = np.outer(row_sums, self.col_sums)  # the weight of a pixel with every input valid
        nodata = self.file.nodata
        if nodata is None or not (invalid := dn == nodata).any():
            out = resample_block(data, rows, self.cols_t)
            out /= full
            valid = np.ones(out.shape, dtype=bool)
        else:
            ok = (~invalid).astype(np.float32)
            data *= ok
            weight = resample_block(ok, rows, self.cols_t)
            out = resample_block(data, rows, self.cols_t)
            np.divide(out, weight, out=out, where=weight > 0)
            valid = weight >= 0.5 * full
        out *= np.float32(self.file.scale)
        return out, valid

    def close(self) -> None:
        self.ds.close()


class WindowReader:
    """Reads row blocks of several bands on one grid, bands decoded in parallel."""

    def __init__(
        self, product: ProductReader, files: list[BandFile], grid: Grid, threads: int = 1
    ) -> None:
        self.grid = grid
        self.files = files
        self._readers: list[_BandReader] = []
        self._env: rasterio.Env | None = product.env()
        self._env.__enter__()
        try:
            for file in files:
                self._readers.append(_BandReader(product, file, grid))
        except BaseException:
            self.close()
            raise
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="band-read")

    def __enter__(self) -> WindowReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, row0: int, row1: int) -> tuple[np.ndarray, np.ndarray]:
        """Reflectance (bands, rows, width) float32 and validity (rows, width) of all bands."""
        results = list(self._pool.map(lambda r: r.read(row0, row1), self._readers))
        data = np.stack([values for values, _ in results])
        valid = np.logical_and.reduce([ok for _, ok in results])
        return data, valid

    def close(self) -> None:
        """Close every band file."""
        if hasattr(self, "_pool"):
            self._pool.shutdown(wait=True)
        for reader in self._readers:
            reader.close()
        self._readers = []
        if self._env is not None:
            env, self._env = self._env, None
            env.__exit__(None, None, None)

"""Reading class-map tiles fast: open datasets kept for reuse, the right overview, one warp.

rio-tiler reads a tile through a WarpedVRT at the source's full resolution and lets GDAL
decimate it, and titiler opens the COG again for every request. For class maps both are
wasted work: the overview whose resolution is just finer than the tile's (made with ``mode``
by the pipeline) is sampled straight onto the tile grid with nearest neighbour, from a dataset
handle an earlier request opened (:class:`DatasetPool`: its GDAL block cache stays warm).
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache

import numpy as np
import rasterio
from morecantile import Tile, TileMatrixSet
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.transform import from_bounds
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from catalog.legend import NODATA
from tiler.errors import MaskMissing, MaskUnreadable

MAX_IDLE = 64
"""Open datasets (overviews count apart) a process keeps for reuse when no request reads them."""


def _stamp(path: str) -> tuple[int, int] | None:
    """Modification time and size of a local file (None for a URL): a new file, a new key."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class DatasetPool:
    """Open datasets shared by a process's threads: a request borrows one and gives it back.

    Opening a COG for every request (titiler's way) reads its header again and starts with a
    cold GDAL block cache. A dataset handle must not be used by two threads at once, so a
    thread borrows one, and a handle per thread would warm its blocks once for every thread;
    here there are only as many handles of a file as requests read it at the same time, and
    their blocks stay warm whichever thread serves the next request. Idle handles beyond
    ``max_idle`` are closed, least recently used first.
    """

    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self.max_idle = max_idle
        self._idle: OrderedDict[Hashable, list[DatasetReader]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    @contextmanager
    def borrow(
        self, path: str, version: str | None = None, level: int | None = None
    ) -> Iterator[DatasetReader]:
        """A dataset of ``path`` (overview ``level`` if given), this thread's until the end.

        ``version`` (e.g. the asset's checksum) and the file's stamp are part of the key, so
        a replaced file is opened again. The caller must not close the dataset.
        """
        key = (path, level, version, _stamp(path))
        dataset = None
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                dataset = idle.pop()
                self._count -= 1
        if dataset is None or dataset.closed:
            dataset = (
                rasterio.open(path, overview_level=level)
                if level is not None
                else rasterio.open(path)
            )
        try:
            yield dataset
        finally:
            self._give_back(key, dataset)

    def _give_back(self, key: Hashable, dataset: DatasetReader) -> None:
        surplus = []
        with self._lock:
            self._idle.setdefault(key, []).append(dataset)
            self._idle.move_to_end(key)
            self._count += 1
            while self._count > self.max_idle:
                oldest_key, oldest = next(iter(self._idle.items()))
                surplus.append(oldest.pop(0))
                self._count -= 1
                if not oldest:
                    del self._idle[oldest_key]
        for old in surplus:
            old.close()

    def idle(self) -> int:
        """Handles open and not borrowed."""
        with self._lock:
            return self._count


DATASETS = DatasetPool()
"""The process's pool of open mask datasets."""


def _missing(path: str, error: RasterioIOError) -> bool:
    """Whether GDAL failed to open ``path`` because there is no file (rather than a bad one)."""
    if "://" not in path:
        return not os.path.exists(path)
    text = str(error)
    return any(sign in text for sign in ("404", "does not exist", "No such file"))


@contextmanager
def borrow_mask(path: str, what: str, version: str | None = None) -> Iterator[DatasetReader]:
    """:meth:`DatasetPool.borrow` for the mask of ``what`` (an item): a missing file raises
    :class:`~tiler.errors.MaskMissing`, one GDAL cannot open or read
    :class:`~tiler.errors.MaskUnreadable`."""
    try:
        with DATASETS.borrow(path, version) as dataset:
            yield dataset
    except RasterioIOError as exc:
        if _missing(path, exc):
            raise MaskMissing(f"{what}: its mask file {path!r} is missing") from exc
        raise MaskUnreadable(f"{what}: its mask file {path!r} cannot be read: {exc}") from exc
    except RasterioError as exc:
        raise MaskUnreadable(f"{what}: reading its mask {path!r} failed: {exc}") from exc


def overview_level(dataset: DatasetReader, resolution: float) -> int | None:
    """The coarsest overview not coarser than ``resolution`` (None: full resolution)."""
    base = abs(dataset.transform.a)
    chosen = None
    for level, factor in enumerate(dataset.overviews(1)):
        if base * factor <= resolution * 1.0001:
            chosen = level
    return chosen


GRID = 17
"""Tile positions (a side) transformed exactly; the others are interpolated between them."""


class _Transformers(threading.local):
    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], Transformer] = {}


_TRANSFORMERS = _Transformers()


def _transformer(tms: TileMatrixSet, path: str, crs: CRS) -> Transformer:
    """This thread's transformer from a tile grid to a raster's CRS (pyproj transformers are
    kept to one thread)."""
    key = (str(tms.id), path)
    found = _TRANSFORMERS.cache.get(key)
    if found is None:
        found = Transformer.from_crs(tms.rasterio_crs.to_wkt(), crs.to_wkt(), always_xy=True)
        if len(_TRANSFORMERS.cache) > 256:
            _TRANSFORMERS.cache.clear()
        _TRANSFORMERS.cache[key] = found
    return found


@lru_cache(maxsize=16)
def _weights(length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Knot positions (pixel centres) and, for every pixel, its knot cell and the fraction of
    the way across it (float32); and how many pixels each knot cell has."""
    knots = np.linspace(0.5, length - 0.5, GRID)
    centres = np.arange(length) + 0.5
    upper = np.clip(np.searchsorted(knots, centres, side="right"), 1, GRID - 1)
    frac = (centres - knots[upper - 1]) / (knots[upper] - knots[upper - 1])
    counts = np.bincount(upper - 1, minlength=GRID - 1)
    return knots, upper - 1, frac.astype(np.float32), counts


def _interpolate(
    grid: np.ndarray,
    rows: tuple[np.ndarray, ...],
    cols: tuple[np.ndarray, ...],
    out: np.ndarray,
    slope: np.ndarray,
) -> np.ndarray:
    """Bilinear interpolation of a (complex) knot grid to every pixel, into ``out``.

    Across the columns of the knot rows first (a small array), then down by copying each
    pixel row's knot row start and slope: whole rows at a time, no BLAS, no temporary as
    large as the tile.
    """
    _, r, rf, _ = rows
    _, c, cf, _ = cols
    across = grid[:, c] * (1 - cf) + grid[:, c + 1] * cf
    np.take(across, r, axis=0, out=out)
    np.take(np.diff(across, axis=0), r, axis=0, out=slope)
    slope *= rf[:, None]
    out += slope
    return out


SCRATCH_MAX_SIDE = 512
"""Tiles up to this size (a side) reuse their thread's work arrays; larger ones allocate."""


class _Scratch(threading.local):
    def __init__(self) -> None:
        self.arrays: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}


_SCRATCH = _Scratch()


def _work_arrays(height: int, width: int) -> tuple[np.ndarray, ...]:
    """Two complex64, one float32 and two index arrays of the tile's shape.

    A tile's work arrays are 0.25 to 0.5 MB each: glibc serves allocations that large with
    fresh pages (mmap), so allocating them for every tile costs more page faults than the
    arithmetic. Each thread keeps one set per tile size instead.
    """
    key = (height, width)
    found = _SCRATCH.arrays.get(key)
    if found is None:
        found = (
            np.empty(key, np.complex64),
            np.empty(key, np.complex64),
            np.empty(key, np.float32),
            np.empty(key, np.intp),
            np.empty(key, np.intp),
        )
        if max(key) <= SCRATCH_MAX_SIDE:
            if len(_SCRATCH.arrays) >= 4:
                _SCRATCH.arrays.clear()
            _SCRATCH.arrays[key] = found
    return found


def _knot_positions(
    tms: TileMatrixSet, tile: Tile, path: str, crs: CRS, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Source-CRS coordinates of the knots (GRID x GRID pixel centres) of a tile."""
    width, height = size
    west, south, east, north = tms.xy_bounds(tile)
    xs = west + _weights(width)[0] * (east - west) / width
    ys = north - _weights(height)[0] * (north - south) / height
    grid_x, grid_y = np.meshgrid(xs, ys)
    src_x, src_y = _transformer(tms, path, crs).transform(grid_x, grid_y)
    if not (np.isfinite(src_x).all() and np.isfinite(src_y).all()):
        return None
    return np.asarray(src_x), np.asarray(src_y)


def read_tile(
    path: str,
    dataset: DatasetReader,
    tms: TileMatrixSet,
    tile: Tile,
    size: tuple[int, int],
    version: str | None = None,
) -> np.ndarray | None:
    """The classes of a tile (rows, cols), no data 0; None if the tile misses the raster.

    Every pixel takes the class of the source pixel under its centre (nearest neighbour), in
    the overview just finer than the tile. Positions are exact on a 17 x 17 grid of pixel
    centres and interpolated in between: far below a tenth of a pixel off for web map tiles.
    """
    width, height = size
    knots = _knot_positions(tms, tile, path, dataset.crs, size)
    if knots is None or dataset.transform.b or dataset.transform.d:
        return _warp_tile(path, dataset, tms, tile, size, version)
    src_x, src_y = knots
    cols, rows = _weights(width), _weights(height)
    span_x = np.abs(src_x[:, -1] - src_x[:, 0]).min() / (cols[0][-1] - cols[0][0] or 1)
    span_y = np.abs(src_y[0, :] - src_y[-1, :]).min() / (rows[0][-1] - rows[0][0] or 1)
    level = overview_level(dataset, float(min(span_x, span_y)))
    with _overview(dataset, path, version, level) as source:
        return _sample(source, src_x, src_y, rows, cols)


def _overview(
    dataset: DatasetReader, path: str, version: str | None, level: int | None
) -> AbstractContextManager[DatasetReader]:
    """The dataset itself (full resolution) or a borrowed handle of one of its overviews."""
    return nullcontext(dataset) if level is None else DATASETS.borrow(path, version, level)


def _sample(
    source: DatasetReader,
    src_x: np.ndarray,
    src_y: np.ndarray,
    rows: tuple[np.ndarray, ...],
    cols: tuple[np.ndarray, ...],
) -> np.ndarray | None:
    """The source pixel under each tile pixel, from the knots' source coordinates."""
    t = source.transform
    grid_col = (src_x - t.c) / t.a
    grid_row = (src_y - t.f) / t.e
    # interpolated positions lie between the knots' extremes: that is the window to read
    c0 = max(math.floor(grid_col.min()), 0)
    c1 = min(math.floor(grid_col.max()) + 1, source.width)
    r0 = max(math.floor(grid_row.min()), 0)
    r1 = min(math.floor(grid_row.max()) + 1, source.height)
    if c0 >= c1 or r0 >= r1:
        return None
    padded = np.zeros((r1 - r0 + 2, c1 - c0 + 2), dtype=np.uint8)  # a no-data frame
    padded[1:-1, 1:-1] = source.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
    # positions relative to the padded window, as one complex grid: column + i * row
    grid = ((grid_col - (c0 - 1)) + 1j * (grid_row - (r0 - 1))).astype(np.complex64)
    where, slope, floor, row, col = _work_arrays(len(rows[1]), len(cols[1]))
    _interpolate(grid, rows, cols, where, slope)
    np.floor(where.real, out=floor)
    np.copyto(col, floor, casting="unsafe")
    np.floor(where.imag, out=floor)
    np.copyto(row, floor, casting="unsafe")
    np.clip(row, 0, r1 - r0 + 1, out=row)
    np.clip(col, 0, c1 - c0 + 1, out=col)
    row *= padded.shape[1]  # flat index into the padded window
    row += col
    out: np.ndarray = padded.ravel().take(row)
    return out


def _warp_tile(
    path: str,
    dataset: DatasetReader,
    tms: TileMatrixSet,
    tile: Tile,
    size: tuple[int, int],
    version: str | None,
) -> np.ndarray | None:
    """GDAL's warper, for rasters that are not north-up or tiles the transform cannot reach."""
    width, height = size
    bounds = tms.xy_bounds(tile)
    dst_crs = tms.rasterio_crs
    src_bounds = transform_bounds(dst_crs, dataset.crs, *bounds, densify_pts=21)
    raster = dataset.bounds
    if (
        src_bounds[0] >= raster.right
        or src_bounds[2] <= raster.left
        or src_bounds[1] >= raster.top
        or src_bounds[3] <= raster.bottom
    ):
        return None
    resolution = min(
        (src_bounds[2] - src_bounds[0]) / width, (src_bounds[3] - src_bounds[1]) / height
    )
    level = overview_level(dataset, resolution)
    out = np.zeros((height, width), dtype=np.uint8)
    with _overview(dataset, path, version, level) as source:
        reproject(
            rasterio.band(source, 1),
            out,
            src_nodata=NODATA,
            dst_transform=from_bounds(*bounds, width, height),
            dst_crs=dst_crs,
            dst_nodata=NODATA,
            resampling=Resampling.nearest,
            num_threads=1,
        )
    return out


def read_pixel(dataset: DatasetReader, x: float, y: float) -> int:
    """The class at a position in the dataset's CRS (no data outside the raster)."""
    row, col = dataset.index(x, y)
    if not (0 <= row < dataset.height and 0 <= col < dataset.width):
        return NODATA
    return int(dataset.read(1, window=Window(col, row, 1, 1))[0, 0])

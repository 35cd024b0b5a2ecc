"""Reading class-map tiles fast: open datasets kept per thread, the right overview, one warp.

rio-tiler reads a tile through a WarpedVRT at the source's full resolution and lets GDAL
decimate it, and titiler opens the COG again for every request. For class maps both are
wasted work: the overview whose resolution is just finer than the tile's (made with ``mode``
by the pipeline) is warped straight onto the tile grid with nearest neighbour, from a dataset
handle this thread opened before (its GDAL block cache stays warm).
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from functools import lru_cache

import numpy as np
import rasterio
from morecantile import Tile, TileMatrixSet
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.transform import from_bounds
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

MAX_OPEN_PER_THREAD = 8
"""Datasets (overviews count apart) one thread keeps open; with 40 worker threads at most
320 file handles."""
NODATA = 0


class _Handles(threading.local):
    """Datasets this thread has open, least recently used first."""

    def __init__(self) -> None:
        self.open: OrderedDict[Hashable, DatasetReader] = OrderedDict()


_HANDLES = _Handles()


def _stamp(path: str) -> tuple[int, int] | None:
    """Modification time and size of a local file (None for a URL): a new file, a new key."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def open_dataset(path: str, version: str | None = None, level: int | None = None) -> DatasetReader:
    """A dataset of ``path`` (overview ``level`` if given) opened by this thread, kept open.

    ``version`` (e.g. the asset's checksum) and the file's stamp are part of the key, so a
    replaced file is opened again. The caller must not close the dataset.
    """
    key = (path, level, version, _stamp(path))
    handles = _HANDLES.open
    found = handles.get(key)
    if found is not None and not found.closed:
        handles.move_to_end(key)
        return found
    dataset = (
        rasterio.open(path, overview_level=level) if level is not None else rasterio.open(path)
    )
    handles[key] = dataset
    while len(handles) > MAX_OPEN_PER_THREAD:
        _, oldest = handles.popitem(last=False)
        oldest.close()
    return dataset


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
    grid: np.ndarray, rows: tuple[np.ndarray, ...], cols: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Bilinear interpolation of a (complex) knot grid to every pixel.

    Down the rows by gathering, then across by repeating each knot cell's start and slope
    over its pixels: a few passes over the tile, no BLAS.
    """
    _, r, rf, _ = rows
    _, _, cf, counts = cols
    along = grid[r] * (1 - rf)[:, None] + grid[r + 1] * rf[:, None]
    out: np.ndarray = np.repeat(along[:, :-1], counts, axis=1)
    out += np.repeat(np.diff(along, axis=1), counts, axis=1) * cf
    return out


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
    source = dataset if level is None else open_dataset(path, version, level)
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
    where = _interpolate(grid, rows, cols)
    col = np.floor(where.real).astype(np.intp)
    row = np.floor(where.imag).astype(np.intp)
    np.clip(row, 0, r1 - r0 + 1, out=row)
    np.clip(col, 0, c1 - c0 + 1, out=col)
    out: np.ndarray = padded[row, col]
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
    source = dataset if level is None else open_dataset(path, version, level)
    out = np.zeros((height, width), dtype=np.uint8)
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

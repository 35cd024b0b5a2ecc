"""Raster grids and exact resampling between aligned grids of different resolutions.

Bands are resampled with sparse weight matrices applied along rows and columns: area
weighting when going coarser (each output pixel averages the input pixels it covers, weighted
by overlap) and bilinear interpolation when going finer. Applied to any block of rows, the
result is identical to resampling the whole raster, so windows never show seams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from affine import Affine
from rasterio.crs import CRS

_EPS = 1e-6


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: upper-left corner, square pixel size, size and CRS."""

    crs: CRS
    x0: float
    y0: float
    res: float
    width: int
    height: int

    @property
    def transform(self) -> Affine:
        """The GDAL geotransform as an Affine."""
        return Affine(self.res, 0.0, self.x0, 0.0, -self.res, self.y0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        return (
            self.x0,
            self.y0 - self.height * self.res,
            self.x0 + self.width * self.res,
            self.y0,
        )

    def at(self, res: float) -> Grid:
        """The grid with the same corner and extent (rounded up) at another resolution."""
        width = math.ceil(self.width * self.res / res - _EPS)
        height = math.ceil(self.height * self.res / res - _EPS)
        return Grid(self.crs, self.x0, self.y0, res, width, height)

    def rows_transform(self, row0: int) -> Affine:
        """The geotransform of a block of rows starting at ``row0``."""
        return Affine(self.res, 0.0, self.x0, 0.0, -self.res, self.y0 - row0 * self.res)

    @classmethod
    def from_dataset(cls, crs: CRS, transform: Affine, width: int, height: int) -> Grid:
        """The grid of a north-up dataset."""
        return cls(crs, transform.c, transform.f, abs(transform.a), width, height)


def axis_overlaps(
    dst_index: np.ndarray, dst_pix: float, n_src: int, src_pix: float, src_offset: float = 0.0
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Unnormalised weights (len(dst_index) x n_src) resampling one axis, and their row sums.

    ``src_offset`` is where source pixel 0 starts, in metres from destination pixel 0 along
    the axis. Coarser destination pixels weight the source pixels they overlap by the overlap,
    in source pixels (1 and 0.5 between aligned 20 m and 30 m grids); finer ones interpolate
    linearly between the two nearest source pixel centres (clamped at the edges).

    Dividing by the sums only at the end keeps averages of whole DNs exact: a field that is
    the same in every source pixel an output pixel covers is read back bit for bit, whichever
    resolution it was stored at.
    """
    dst = np.asarray(dst_index, dtype=np.int64)
    if dst_pix >= src_pix * (1 - _EPS):
        start = (dst * dst_pix - src_offset) / src_pix  # in source pixel units
        stop = ((dst + 1) * dst_pix - src_offset) / src_pix
        first = np.floor(start + _EPS).astype(np.int64)
        span = math.ceil(dst_pix / src_pix) + 1
        rows, cols, vals = [], [], []
        for k in range(span):
            j = first + k
            overlap = np.minimum(stop, j + 1) - np.maximum(start, j)
            keep = (overlap > _EPS) & (j >= 0) & (j < n_src)
            rows.append(np.nonzero(keep)[0])
            cols.append(j[keep])
            vals.append(overlap[keep])
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        u = ((dst + 0.5) * dst_pix - src_offset) / src_pix - 0.5
        j0 = np.floor(u)
        t = u - j0
        left = np.clip(j0, 0, n_src - 1).astype(np.int64)
        right = np.clip(j0 + 1, 0, n_src - 1).astype(np.int64)
        idx = np.arange(len(dst))
        r = np.concatenate([idx, idx])
        c = np.concatenate([left, right])
        v = np.concatenate([1.0 - t, t])
    matrix = sp.csr_matrix((v, (r, c)), shape=(len(dst), n_src), dtype=np.float64)
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0  # destination pixels entirely outside the source stay empty
    return sp.csr_matrix(matrix, dtype=np.float32), sums.astype(np.float32)


def axis_weights(
    dst_index: np.ndarray, dst_pix: float, n_src: int, src_pix: float, src_offset: float = 0.0
) -> sp.csr_matrix:
    """Weights (len(dst_index) x n_src, rows summing to 1) resampling one axis.

    The weights of :func:`axis_overlaps`, each row divided by its sum.
    """
    matrix, sums = axis_overlaps(dst_index, dst_pix, n_src, src_pix, src_offset)
    scale = sp.diags(1.0 / sums.astype(np.float64))
    return sp.csr_matrix(scale @ matrix.astype(np.float64), dtype=np.float32)


def source_span(weights: sp.csr_matrix) -> tuple[int, int]:
    """The range [first, last + 1) of source indices a weight matrix uses."""
    used = np.unique(weights.indices)
    if used.size == 0:
        return 0, 0
    return int(used[0]), int(used[-1]) + 1


def resample_block(block: np.ndarray, rows: sp.csr_matrix, cols_t: sp.csr_matrix) -> np.ndarray:
    """Apply row weights (n_out_rows x block rows) and transposed column weights to a block."""
    out = rows @ block
    return np.asarray(out @ cols_t, dtype=np.float32)

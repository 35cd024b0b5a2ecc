"""Tiling with overlap and smooth blending, streamed over windows of rows.

Tiles lie on one global grid (starting half an overlap before the raster and ending as far
after it), so a tile never depends on which window it was read in. Class probabilities are
weighted by a 2-D Tukey (tapered cosine) window and divided by the summed weights; a row is
handed on as soon as no later tile touches it. The result is therefore the same as blending
the whole raster at once: there are no seams at tile or window borders.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from inference.card import ModelCard

ReadRows = Callable[[int, int], tuple[np.ndarray, np.ndarray]]
Emit = Callable[[np.ndarray, np.ndarray], None]
Predict = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[int, int], None]
_MIN_WEIGHT = 1e-3


@dataclass(frozen=True)
class TilePlan:
    """Square tiles of ``size`` pixels overlapping their neighbours by ``overlap`` pixels."""

    size: int
    overlap: int

    def starts(self, n: int) -> list[int]:
        """Evenly spaced tile starts covering an axis of n pixels plus a margin on both sides.

        The margin (at least half the overlap) keeps the raster's edge pixels away from the
        tiles' edges; the fewest tiles that fit are spaced exactly ``size - overlap`` apart, and
        the slack widens the margins rather than adding a nearly redundant last tile.
        """
        size, step = self.size, self.size - self.overlap
        min_margin = self.overlap // 2
        if n + 2 * min_margin <= size:
            return [-((size - n) // 2)]
        count = math.ceil((n + 2 * min_margin - size) / step) + 1
        margin = ((count - 1) * step + size - n) // 2
        return [-margin + i * step for i in range(count)]

    @cached_property
    def weights(self) -> np.ndarray:
        """The 2-D blending window: 1 in the middle, cosine tapers over the overlap."""
        alpha = min(1.0, 2.0 * self.overlap / self.size)
        from scipy.signal.windows import tukey  # scipy.signal takes a second to import

        line = np.maximum(tukey(self.size, alpha=alpha, sym=True), _MIN_WEIGHT)
        return np.outer(line, line).astype(np.float32)


@dataclass
class TileStats:
    """What a run did, and where the time went."""

    tiles: int = 0
    skipped: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, seconds: float) -> None:
        """Account seconds to a stage."""
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds


def normalise(data: np.ndarray, valid: np.ndarray, card: ModelCard) -> np.ndarray:
    """Model inputs from reflectance (bands, rows, cols), in place; invalid pixels set to 0."""
    if card.input_unit == "dn":
        data *= np.float32(10000.0)
    norm = card.normalisation
    shape = (len(card.bands), 1, 1)
    if norm.method == "standardise" and norm.mean is not None and norm.std is not None:
        data -= np.asarray(norm.mean, dtype=np.float32).reshape(shape)
        data /= np.asarray(norm.std, dtype=np.float32).reshape(shape)
    elif norm.method == "minmax" and norm.min is not None and norm.max is not None:
        low = np.asarray(norm.min, dtype=np.float32).reshape(shape)
        data -= low
        data /= np.asarray(norm.max, dtype=np.float32).reshape(shape) - low
        if norm.clip:
            np.clip(data, 0.0, 1.0, out=data)
    elif norm.method == "linear":
        data *= np.float32(norm.scale)
        data += np.float32(norm.offset)
    if not valid.all():
        data[:, ~valid] = 0.0
    return data


class TiledPredictor:
    """Runs a model over a raster read in row windows, emitting blended probabilities."""

    def __init__(
        self, card: ModelCard, predict: Predict, *, max_rows: int = 1024, prefetch: bool = True
    ) -> None:
        self.card = card
        self.predict = predict
        self.plan = TilePlan(card.tile_size, card.overlap_px)
        self.max_rows = max(max_rows, card.tile_size)
        self.prefetch = prefetch

    def groups(self, height: int) -> list[tuple[int, int]]:
        """Runs of tile rows (first, last) whose rows fit in one window."""
        ys = self.plan.starts(height)
        out, i = [], 0
        while i < len(ys):
            j = i
            while j + 1 < len(ys) and ys[j + 1] + self.plan.size - ys[i] <= self.max_rows:
                j += 1
            out.append((i, j))
            i = j + 1
        return out

    def run(
        self,
        height: int,
        width: int,
        read_rows: ReadRows,
        emit: Emit,
        progress: Progress | None = None,
    ) -> TileStats:
        """Predict the whole raster; ``emit`` gets consecutive rows of probabilities."""
        plan, size = self.plan, self.plan.size
        ys, xs = plan.starts(height), plan.starts(width)
        groups = self.groups(height)
        stats = TileStats(tiles=len(ys) * len(xs))
        n_classes = len(self.card.classes)
        acc = np.zeros((n_classes, 0, width), dtype=np.float32)
        wsum = np.zeros((0, width), dtype=np.float32)
        acc0 = 0  # image row of acc[:, 0]
        done = 0

        def span(group: tuple[int, int]) -> tuple[int, int]:
            return ys[group[0]], ys[group[1]] + size

        def timed_read(group: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, float]:
            start = time.perf_counter()
            a, b = span(group)
            data, valid = read_rows(max(a, 0), min(b, height))
            return data, valid, time.perf_counter() - start

        pool = ThreadPoolExecutor(1, thread_name_prefix="window-read") if self.prefetch else None
        try:
            pending: Future[tuple[np.ndarray, np.ndarray, float]] | None = None
            for g, group in enumerate(groups):
                wait = time.perf_counter()
                if pending is not None:
                    data, valid, read_s = pending.result()
                else:
                    data, valid, read_s = timed_read(group)
                stats.add("read_wait", time.perf_counter() - wait)
                stats.add("read", read_s)
                pending = None
                if pool is not None and g + 1 < len(groups):
                    pending = pool.submit(timed_read, groups[g + 1])
                a, b = span(group)
                lo, hi = acc0, min(b, height)
                grown = np.zeros((n_classes, hi - lo, width), dtype=np.float32)
                grown[:, : acc.shape[1]] = acc
                acc = grown
                grown_w = np.zeros((hi - lo, width), dtype=np.float32)
                grown_w[: wsum.shape[0]] = wsum
                wsum = grown_w
                start = time.perf_counter()
                rows_valid = valid
                data = normalise(data, valid, self.card)
                pad_rows = (max(0, -a), max(0, b - height))
                pad_cols = (-xs[0], xs[-1] + size - width)
                data = np.pad(data, ((0, 0), pad_rows, pad_cols), mode="symmetric")
                valid = np.pad(valid, (pad_rows, pad_cols), mode="symmetric")
                stats.add("prepare", time.perf_counter() - start)
                for ty in ys[group[0] : group[1] + 1]:
                    r = ty - a
                    batch, where = [], []
                    for tx in xs:
                        c = tx - xs[0]
                        if not valid[r : r + size, c : c + size].any():
                            stats.skipped += 1
                            continue
                        batch.append(data[:, r : r + size, c : c + size])
                        where.append(tx)
                    if batch:
                        start = time.perf_counter()
                        probs = self.predict(np.stack(batch))
                        stats.add("predict", time.perf_counter() - start)
                        start = time.perf_counter()
                        for p, tx in zip(probs, where, strict=True):
                            self._accumulate(acc, wsum, p, ty, tx, lo, height, width)
                        stats.add("blend", time.perf_counter() - start)
                    done += len(xs)
                    if progress is not None:
                        progress(done, stats.tiles)
                final = ys[group[1] + 1] if group[1] + 1 < len(ys) else height
                final = min(max(final, acc0), height)
                k = final - acc0
                if k > 0:
                    total = wsum[:k]
                    probs_out = acc[:, :k] / np.maximum(total, _MIN_WEIGHT * _MIN_WEIGHT)
                    ok = rows_valid[acc0 - max(a, 0) : final - max(a, 0)] & (total > 0)
                    emit(probs_out, ok)
                    acc, wsum, acc0 = acc[:, k:], wsum[k:], final
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        return stats

    def _accumulate(
        self,
        acc: np.ndarray,
        wsum: np.ndarray,
        probs: np.ndarray,
        ty: int,
        tx: int,
        lo: int,
        height: int,
        width: int,
    ) -> None:
        size = self.plan.size
        r0, r1 = max(ty, lo), min(ty + size, height)
        c0, c1 = max(tx, 0), min(tx + size, width)
        if r1 <= r0 or c1 <= c0:
            return
        w = self.plan.weights[r0 - ty : r1 - ty, c0 - tx : c1 - tx]
        acc[:, r0 - lo : r1 - lo, c0:c1] += probs[:, r0 - ty : r1 - ty, c0 - tx : c1 - tx] * w
        wsum[r0 - lo : r1 - lo, c0:c1] += w


def predict_array(
    predictor: TiledPredictor, reflectance: np.ndarray, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Blended probabilities (classes, rows, cols) and validity of an in-memory raster."""
    height, width = reflectance.shape[1:]
    if valid is None:
        valid = np.ones((height, width), dtype=bool)
    out_probs: list[np.ndarray] = []
    out_valid: list[np.ndarray] = []

    def read_rows(row0: int, row1: int) -> tuple[np.ndarray, np.ndarray]:
        return reflectance[:, row0:row1].astype(np.float32, copy=True), valid[row0:row1]

    def emit(probs: np.ndarray, ok: np.ndarray) -> None:
        out_probs.append(probs)
        out_valid.append(ok)

    predictor.run(height, width, read_rows, emit)
    return np.concatenate(out_probs, axis=1), np.concatenate(out_valid, axis=0)

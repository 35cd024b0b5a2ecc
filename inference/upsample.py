"""From rows of class probabilities on the processing grid to classes on the 10 m grid.

Probabilities (not classes) are interpolated bilinearly, pixel centre to pixel centre, then the
most probable class is taken; so class borders follow the model's probabilities smoothly rather
than showing the processing grid's blocks. Rows arrive and leave in order, keeping just the
rows that the next output rows interpolate from.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from catalog.legend import MISSING

Sink = Callable[[int, np.ndarray], None]


def _axis(start: int, stop: int, ratio: float, n_src: int) -> tuple[np.ndarray, ...]:
    """Source indices (lower, upper, nearest) and upper weights of output pixels [start, stop)."""
    u = (np.arange(start, stop) + 0.5) / ratio - 0.5
    j0 = np.floor(u)
    t = (u - j0).astype(np.float32)
    lower = np.clip(j0, 0, n_src - 1).astype(np.intp)
    upper = np.clip(j0 + 1, 0, n_src - 1).astype(np.intp)
    nearest = np.clip(np.floor(u + 0.5), 0, n_src - 1).astype(np.intp)
    return lower, upper, nearest, t


class ClassUpsampler:
    """Interpolates probability rows to the 10 m grid and hands out class rows to ``sink``."""

    def __init__(
        self,
        src_shape: tuple[int, int],
        dst_shape: tuple[int, int],
        ratio: float,
        legend_values: list[int],
        sink: Sink,
        chunk_rows: int = 256,
    ) -> None:
        self.src_h, self.src_w = src_shape
        self.dst_h, self.dst_w = dst_shape
        self.ratio = ratio  # destination pixels per source pixel (3 for 30 m -> 10 m)
        self.lookup = np.asarray(legend_values, dtype=np.uint8)
        self.sink = sink
        self.chunk_rows = chunk_rows
        self._cols = _axis(0, self.dst_w, ratio, self.src_w)
        self._probs: np.ndarray | None = None  # buffered source rows [buf0, received)
        self._valid: np.ndarray | None = None
        self._best: np.ndarray | None = None  # most probable class of each buffered pixel
        self.buf0 = 0
        self.received = 0
        self.emitted = 0  # destination rows handed out

    def push(self, probs: np.ndarray, valid: np.ndarray) -> None:
        """Add the next source rows: probabilities (classes, n, src_w) and validity (n, src_w)."""
        best = np.argmax(probs, axis=0).astype(np.uint8)
        if self._probs is None or self._valid is None or self._best is None:
            self._probs, self._valid, self._best = probs, valid, best
        else:
            self._probs = np.concatenate([self._probs, probs], axis=1)
            self._valid = np.concatenate([self._valid, valid], axis=0)
            self._best = np.concatenate([self._best, best], axis=0)
        self.received += probs.shape[1]
        self._drain(final=self.received >= self.src_h)

    def finish(self) -> None:
        """Hand out every remaining destination row."""
        self._drain(final=True)

    def _ready_until(self, final: bool) -> int:
        if final:
            return self.dst_h
        # destination row o needs source row floor(u) + 1 <= received - 1, i.e. u < received - 1
        limit = int(np.ceil((self.received - 0.5) * self.ratio - 0.5))
        return max(self.emitted, min(self.dst_h, limit))

    def _drain(self, final: bool) -> None:
        until = self._ready_until(final)
        while self.emitted < until:
            stop = min(until, self.emitted + self.chunk_rows)
            self.sink(self.emitted, self._classes(self.emitted, stop))
            self.emitted = stop
        if self._probs is not None and self.emitted < self.dst_h:
            first = _axis(self.emitted, self.emitted + 1, self.ratio, self.src_h)[0][0]
            drop = max(0, min(int(first), self.received) - self.buf0)
            if drop and self._valid is not None and self._best is not None:
                self._probs = self._probs[:, drop:]
                self._valid = self._valid[drop:]
                self._best = self._best[drop:]
                self.buf0 += drop

    def _classes(self, start: int, stop: int) -> np.ndarray:
        """Classes of destination rows [start, stop).

        The class of the nearest source pixel is right wherever the four source pixels around
        a destination pixel agree (an interpolation of probability vectors that share their
        most probable class keeps it); only the other pixels are interpolated.
        """
        assert self._probs is not None and self._valid is not None and self._best is not None
        lower, upper, nearest, t = _axis(start, stop, self.ratio, self.src_h)
        c_lower, c_upper, c_nearest, s = self._cols
        b0, best = self.buf0, self._best
        index = best[nearest - b0][:, c_nearest]
        if self.ratio != 1.0:
            top, bottom = best[lower - b0], best[upper - b0]
            same = top == bottom
            agree = same[:, :-1] & same[:, 1:] & (top[:, :-1] == top[:, 1:])
            agree &= bottom[:, :-1] == bottom[:, 1:]
            agree = np.concatenate([agree, same[:, -1:]], axis=1)
            rr, xx = np.nonzero(~agree[:, c_lower])
            if rr.size:
                p = self._probs
                pl, pu, cl, cu = lower[rr] - b0, upper[rr] - b0, c_lower[xx], c_upper[xx]
                tt, ss = t[rr], s[xx]
                values = (p[:, pl, cl] * (1 - ss) + p[:, pl, cu] * ss) * (1 - tt)
                values += (p[:, pu, cl] * (1 - ss) + p[:, pu, cu] * ss) * tt
                index[rr, xx] = np.argmax(values, axis=0)
        classes = self.lookup[index]
        valid = self._valid[nearest - b0]
        if not valid.all():
            classes[~valid[:, c_nearest]] = MISSING
        return classes

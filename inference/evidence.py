"""Semi-transparent cloud from the evidence a product carries, for models without the class.

A model card's :class:`~inference.card.SemiTransparentRule` names the evidence: B10 in Sen2Cor's
thin-cirrus range (L1C) or the SCL's thin-cirrus class (L2A). It is read once, at the coarsest
resolution that serves (B10's 60 m, the SCL's 20 m), as a map of booleans; the engine looks it
up for each block of 10 m rows (nearest pixel) and makes class 3 where the model said clear.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import rasterio

from catalog.legend import CLEAR, SEMI_TRANSPARENT_CLOUD
from inference.bands import SCL
from inference.card import MODEL_RULE, NO_RULE, ModelCard, ThinCirrusB10, ThinCirrusSCL
from inference.grid import Grid
from inference.readers.base import READ_ERRORS, ProductReader

log = logging.getLogger(__name__)


@dataclass
class EvidenceMap:
    """Booleans on a grid of their own, looked up for rows of another grid (nearest pixel).

    Kept as bits (4 MB for a full product's 20 m SCL rather than 30), unpacked a block of
    rows at a time.
    """

    bits: np.ndarray  # np.packbits of the booleans along rows
    grid: Grid
    share: float  # the share of the map's pixels with the evidence
    _cols: dict[tuple[float, float, float, int], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def of(cls, mask: np.ndarray, grid: Grid) -> EvidenceMap:
        """The map of a boolean array on ``grid``."""
        share = float(mask.mean()) if mask.size else 0.0
        return cls(np.packbits(mask, axis=1), grid, share)

    def rows(self, out: Grid, row0: int, row1: int) -> np.ndarray:
        """The evidence under the centre of every pixel of rows [row0, row1) of ``out``."""
        g = self.grid
        height, width = g.height, g.width
        ys = out.y0 - (np.arange(row0, row1) + 0.5) * out.res
        src_rows = np.floor((g.y0 - ys) / g.res).astype(np.int64)
        key = (out.x0, out.res, g.x0, out.width)
        if key not in self._cols:
            xs = out.x0 + (np.arange(out.width) + 0.5) * out.res
            cols = np.floor((xs - g.x0) / g.res).astype(np.int64)
            self._cols[key] = (np.clip(cols, 0, width - 1), (cols >= 0) & (cols < width))
        cols, cols_inside = self._cols[key]
        rows_inside = (src_rows >= 0) & (src_rows < height)
        packed = self.bits[np.clip(src_rows, 0, height - 1)]
        picked = np.unpackbits(packed, axis=1, count=width).astype(bool)[:, cols]
        return picked & rows_inside[:, None] & cols_inside[None, :]


@dataclass
class SemiTransparent:
    """What makes class 3 in a mask: the rule's name (for the item) and its evidence map."""

    rule: str
    evidence: EvidenceMap | None = None

    def apply(self, classes: np.ndarray, out: Grid, row0: int) -> None:
        """Turn the clear pixels with evidence of rows ``row0``... of ``out`` into class 3."""
        if self.evidence is None:
            return
        here = self.evidence.rows(out, row0, row0 + classes.shape[0])
        classes[here & (classes == CLEAR)] = SEMI_TRANSPARENT_CLOUD

    def apply_rows(self, classes: np.ndarray, out: Grid, rows: int = 512) -> None:
        """:meth:`apply` to a whole class map of ``out``, ``rows`` rows at a time."""
        for row0 in range(0, classes.shape[0], rows):
            self.apply(classes[row0 : row0 + rows], out, row0)


def semi_transparent(product: ProductReader, card: ModelCard, threads: int = 1) -> SemiTransparent:
    """How class 3 is made for ``product`` under ``card``, its evidence read (``threads``
    bands decoded at once)."""
    if card.has_semi_transparent_class:
        return SemiTransparent(MODEL_RULE)
    rule = card.semi_transparent_rule(product.info.level)
    if isinstance(rule, ThinCirrusB10):
        evidence = _b10_thin_cirrus(product, rule, threads)
    elif isinstance(rule, ThinCirrusSCL):
        evidence = _scl_thin_cirrus(product, rule)
    else:
        return SemiTransparent(NO_RULE)
    if evidence is None:
        return SemiTransparent(NO_RULE)
    log.info(
        "%s: semi-transparent cloud from %s (%.1f %% of the evidence map)",
        product.info.id,
        rule.name,
        100 * evidence.share,
    )
    return SemiTransparent(rule.name, evidence)


def _b10_thin_cirrus(
    product: ProductReader, rule: ThinCirrusB10, threads: int
) -> EvidenceMap | None:
    if not product.files.get("B10") or not product.files.get("B02"):
        log.warning("%s: no B10 (or B02), so no thin-cirrus evidence", product.info.id)
        return None
    with product.window_reader(["B10", "B02"], rule.resolution, threads) as reader:
        grid = reader.grid
        values, valid = reader.read(0, grid.height)
    b10, blue = values
    mask = valid & (b10 >= rule.min) & (b10 <= rule.max) & (blue < rule.blue_max)
    return EvidenceMap.of(mask, grid)


def _scl_thin_cirrus(product: ProductReader, rule: ThinCirrusSCL) -> EvidenceMap | None:
    if not product.files.get(SCL):
        log.warning("%s: no scene classification (SCL), so no thin-cirrus evidence", product.name)
        return None
    file = product.band_file(SCL, rule.resolution)
    try:
        with product.env(), rasterio.open(file.path) as ds:
            if product.grid.crs is not None and ds.crs is not None and ds.crs != product.grid.crs:
                raise product.fail(f"the SCL is in {ds.crs}, not {product.grid.crs}")
            t = ds.transform
            if not math.isclose(abs(t.e), abs(t.a)):
                raise product.fail(f"the SCL's pixels are not square ({t.a} x {t.e})")
            values = ds.read(1)
    except READ_ERRORS as exc:
        raise product.read_failed(f"cannot read the SCL ({file.path}): {exc}", exc) from exc
    grid = Grid(product.grid.crs, t.c, t.f, abs(t.a), values.shape[1], values.shape[0])
    return EvidenceMap.of(np.isin(values, rule.classes), grid)

"""``run_mask``: from a Sentinel-2 product to a 10 m mask COG, its thumbnail and statistics."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from catalog import __version__ as kappacat_version
from catalog.legend import NODATA
from inference.card import ModelCard, default_card
from inference.evidence import semi_transparent
from inference.product import MaskResult
from inference.readers import ProductReader, open_product
from inference.session import ModelSession
from inference.settings import InferenceSettings, SourceSettings
from inference.tiling import TiledPredictor
from inference.upsample import ClassUpsampler
from inference.writer import class_counts, staged, write_mask_cog, write_thumbnail

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
MASK_RESOLUTION = 10.0


def thumbnail_path(out_path: Path) -> Path:
    """Where the thumbnail of a mask COG goes: beside it, ``<stem>.thumbnail.png``."""
    return out_path.with_name(f"{out_path.stem}.thumbnail.png")


def window_rows(card: ModelCard, width: int, settings: InferenceSettings) -> int:
    """Rows of the processing grid per window: the setting, capped by the memory budget."""
    per_row = width * len(card.bands) * 4 * 3  # bands, their padded copy and the prefetch
    budget = settings.window_mb * 1024 * 1024 // max(per_row, 1)
    return max(card.tile_size, min(settings.window_rows, budget))


def run_mask(
    source: str | Path,
    out_path: Path,
    *,
    card: ModelCard | None = None,
    settings: InferenceSettings | None = None,
    sources: SourceSettings | None = None,
    progress: Progress | None = None,
) -> MaskResult:
    """Mask one product: write ``out_path`` (COG) and its thumbnail, return the statistics.

    ``sources`` says how providers' files are reached (default: from the environment).
    Raises ProductError for bad input and ModelCardError for an unusable card; either way no
    output file is left behind.
    """
    settings = settings or InferenceSettings()
    out_path = Path(out_path)
    started = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=settings.gdal_cache_mb):
        product = open_product(source, check_jp2=settings.check_jp2, sources=sources)
        with product:
            card = card or default_card(product.info.level, settings)
            card.check_level(product.info.level, product.info.id)
            classes, timings, extra = _classify(product, card, settings, progress, started)
            write_start = time.perf_counter()
            tags = {
                "PRODUCT_ID": product.info.id,
                "MODEL_ID": card.id,
                "MODEL_VERSION": card.version,
                "KAPPACAT_VERSION": kappacat_version,
            }
            thumb = thumbnail_path(out_path)
            with staged(thumb) as thumb_tmp:
                write_thumbnail(classes, thumb_tmp, settings.thumbnail_size)
                write_mask_cog(
                    classes, product.grid, out_path, compression=settings.compression, tags=tags
                )
            timings["write"] = time.perf_counter() - write_start
            counts = class_counts(classes)
    timings["total"] = time.perf_counter() - started
    if progress is not None:
        progress(1, 1)
    log.info("masked %s in %.1f s: %s", product.info.id, timings["total"], counts)
    return MaskResult(
        path=out_path,
        product=product.info,
        class_counts=counts,
        model_id=card.id,
        model_card=card.to_dict(),
        thumbnail_path=thumb,
        timings=timings,
        extra={**extra, "compression": settings.compression},
    )


def _classify(
    product: ProductReader,
    card: ModelCard,
    settings: InferenceSettings,
    progress: Progress | None,
    started: float,
) -> tuple[np.ndarray, dict[str, float], dict[str, Any]]:
    """The 10 m class map of a product (legend values), stage timings and run details."""
    resolution = settings.resolution or card.resolution
    out_grid = product.grid.at(MASK_RESOLUTION)
    with product.window_reader(card.bands, resolution, settings.read_threads) as reader:
        session = ModelSession(card, settings)
        timings = {"open": time.perf_counter() - started}
        grid = reader.grid
        classes = np.zeros((out_grid.height, out_grid.width), dtype=np.uint8)
        footprint = product.footprint_mask(out_grid)

        def sink(row0: int, block: np.ndarray) -> None:
            inside = footprint.rows(row0, row0 + block.shape[0])
            block[~inside] = NODATA
            classes[row0 : row0 + block.shape[0]] = block

        upsampler = ClassUpsampler(
            (grid.height, grid.width),
            (out_grid.height, out_grid.width),
            resolution / MASK_RESOLUTION,
            card.legend_values,
            sink,
        )
        predictor = TiledPredictor(
            card,
            session.predict,
            max_rows=window_rows(card, grid.width, settings),
            prefetch=settings.prefetch,
        )
        wrapped = _scaled_progress(progress)
        stats = predictor.run(grid.height, grid.width, reader.read, upsampler.push, wrapped)
        upsampler.finish()
    timings.update(stats.timings)
    # Read once the model's windows are gone, so that its buffers do not add to their peak.
    evidence_start = time.perf_counter()
    semi = semi_transparent(product, card, settings.read_threads)
    semi.apply_rows(classes, out_grid)
    timings["evidence"] = time.perf_counter() - evidence_start
    timings["classify"] = time.perf_counter() - started - timings["open"]
    extra = {
        "semi_transparent_rule": semi.rule,
        "resolution": resolution,
        "tiles": stats.tiles,
        "tiles_skipped": stats.skipped,
        "providers": session.providers,
        "window_rows": predictor.max_rows,
    }
    return classes, timings, extra


def _scaled_progress(progress: Progress | None) -> Progress | None:
    """Tile progress scaled to 95 % of the run (the COG write is the rest)."""
    if progress is None:
        return None
    inner = progress

    def report(done: int, total: int) -> None:
        inner(math.floor(95 * done / max(total, 1)), 100)

    return report

"""Encoding class-map tiles losslessly: paletted PNG (small, fast) or lossless WebP."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
from rio_tiler.colormap import apply_cmap
from rio_tiler.models import ImageData
from rio_tiler.types import ColorMapType
from rio_tiler.utils import render
from titiler.core.resources.enums import ImageType

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_LEVEL = 1
WEBP_OPTIONS: dict[str, Any] = {"lossless": True}


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def palette(colormap: dict[Any, Any]) -> tuple[np.ndarray, int] | None:
    """A 256-entry RGBA palette and the index of a transparent entry, for an integer colormap
    (values without a colour are transparent); None if the colormap cannot be one."""
    if not all(isinstance(k, (int, np.integer)) and 0 <= k < 256 for k in colormap):
        return None
    table = np.zeros((256, 4), dtype=np.uint8)
    for value, rgba in colormap.items():
        table[int(value)] = (*tuple(rgba), 255)[:4]
    transparent = np.flatnonzero(table[:, 3] == 0)
    if transparent.size == 0:
        return None
    return table, int(transparent[0])


def palette_png(indexes: np.ndarray, table: np.ndarray, alpha: bool = True) -> bytes:
    """An 8-bit paletted PNG of ``indexes`` (rows, cols) with the RGBA ``table``."""
    height, width = indexes.shape
    used = int(indexes.max()) + 1 if indexes.size else 1
    entries = table[:used]
    raw = np.empty((height, width + 1), dtype=np.uint8)
    raw[:, 0] = 0  # filter type None on every row
    raw[:, 1:] = indexes
    parts = [
        PNG_SIGNATURE,
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)),
        _chunk(b"PLTE", entries[:, :3].tobytes()),
    ]
    if alpha and (entries[:, 3] < 255).any():
        parts.append(_chunk(b"tRNS", entries[:, 3].tobytes()))
    parts += [
        _chunk(b"IDAT", zlib.compress(raw.tobytes(), PNG_LEVEL)),
        _chunk(b"IEND", b""),
    ]
    return b"".join(parts)


def _rgba(image: ImageData, colormap: ColorMapType | None) -> tuple[np.ndarray, np.ndarray]:
    data, mask = image.data, image.mask
    if colormap:
        data, alpha = apply_cmap(data, colormap)
        mask = np.where(mask != 0, alpha, 0).astype(np.uint8)
    return data, mask


def render_tile(
    image: ImageData,
    output_format: ImageType | None = None,
    colormap: ColorMapType | None = None,
    add_mask: bool | None = None,
    **_: Any,
) -> tuple[bytes, str]:
    """Encode a class-map tile losslessly: PNG unless WebP is asked for, never JPEG."""
    fmt = output_format or ImageType.png
    with_alpha = add_mask is not False
    if fmt == ImageType.png and isinstance(colormap, dict) and image.count == 1:
        found = palette(colormap)
        if found is not None:
            table, transparent = found
            classes = image.data[0]
            if classes.dtype != np.uint8:
                classes = np.clip(classes, 0, 255).astype(np.uint8)
            valid = ~np.ma.getmaskarray(image.array)[0]
            indexes = np.where(valid, classes, np.uint8(transparent))
            return palette_png(indexes, table, with_alpha), fmt.mediatype
    data, mask = _rgba(image, colormap)
    options: dict[str, Any] = WEBP_OPTIONS if fmt == ImageType.webp else {}
    content = render(data, mask if with_alpha else None, img_format=fmt.driver, **options)
    return content, fmt.mediatype

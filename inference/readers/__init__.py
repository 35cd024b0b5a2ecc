"""Opening Sentinel-2 products: SAFE directories, SAFE zips and STAC items.

The readers are imported on first use: they bring GDAL, scipy and pystac, which a caller of
the pure metadata parsers (:mod:`inference.readers.safe_xml`) does not need.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inference.readers.base import BandFile, ProductReader, WindowReader
    from inference.readers.opening import open_product

_EXPORTS = {
    "BandFile": "inference.readers.base",
    "ProductReader": "inference.readers.base",
    "WindowReader": "inference.readers.base",
    "open_product": "inference.readers.opening",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inference.readers' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = ["BandFile", "ProductReader", "WindowReader", "open_product"]

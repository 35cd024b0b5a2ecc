"""The inference engine: from a Sentinel-2 product to a 10 m KappaMask-legend mask COG.

``open_product`` reads SAFE directories, SAFE zips and STAC items; ``run_mask`` runs a model
card over a product and writes the mask COG, its thumbnail and class statistics.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inference.card import ModelCard, default_card, load_card
    from inference.engine import run_mask, thumbnail_path
    from inference.errors import InferenceError, ModelCardError, ProductError
    from inference.product import MaskResult, ProductInfo
    from inference.readers import ProductReader, open_product
    from inference.settings import InferenceSettings, SourceSettings

# Imported on first use: the engine brings onnxruntime, scipy and GDAL, which commands such as
# ``kappacat jobs`` or ``kappacat --help`` never need.
_EXPORTS = {
    "ModelCard": "inference.card",
    "default_card": "inference.card",
    "load_card": "inference.card",
    "run_mask": "inference.engine",
    "thumbnail_path": "inference.engine",
    "InferenceError": "inference.errors",
    "ModelCardError": "inference.errors",
    "ProductError": "inference.errors",
    "MaskResult": "inference.product",
    "ProductInfo": "inference.product",
    "ProductReader": "inference.readers",
    "open_product": "inference.readers",
    "InferenceSettings": "inference.settings",
    "SourceSettings": "inference.settings",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inference' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "InferenceError",
    "InferenceSettings",
    "MaskResult",
    "ModelCard",
    "ModelCardError",
    "ProductError",
    "ProductInfo",
    "ProductReader",
    "SourceSettings",
    "default_card",
    "load_card",
    "open_product",
    "run_mask",
    "thumbnail_path",
]

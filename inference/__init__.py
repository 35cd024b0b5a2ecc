"""The inference engine: from a Sentinel-2 product to a 10 m KappaMask-legend mask COG.

``open_product`` reads SAFE directories, SAFE zips and STAC items; ``run_mask`` runs a model
card over a product and writes the mask COG, its thumbnail and class statistics.
"""

from __future__ import annotations

from inference.card import ModelCard, default_card, load_card
from inference.engine import run_mask, thumbnail_path
from inference.errors import InferenceError, ModelCardError, ProductError
from inference.product import MaskResult, ProductInfo
from inference.readers import ProductReader, open_product
from inference.settings import InferenceSettings

__all__ = [
    "InferenceError",
    "InferenceSettings",
    "MaskResult",
    "ModelCard",
    "ModelCardError",
    "ProductError",
    "ProductInfo",
    "ProductReader",
    "default_card",
    "load_card",
    "open_product",
    "run_mask",
    "thumbnail_path",
]

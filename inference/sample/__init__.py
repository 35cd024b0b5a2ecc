"""Generated Sentinel-2 sample products (SAFE and STAC) with their ground truth."""

from __future__ import annotations

from inference.sample.errors import SampleProductError
from inference.sample.generate import SampleProduct, write_sample_product

__all__ = ["SampleProduct", "SampleProductError", "write_sample_product"]

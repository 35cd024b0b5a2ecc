"""Generated Sentinel-2 sample products (SAFE and STAC) with their ground truth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inference.sample.errors import SampleProductError

if TYPE_CHECKING:
    from inference.sample.generate import SampleProduct, write_sample_product


def __getattr__(name: str) -> Any:
    """The generator, imported on first use (it brings scipy and GDAL)."""
    if name in ("SampleProduct", "write_sample_product"):
        from inference.sample import generate

        return getattr(generate, name)
    raise AttributeError(f"module 'inference.sample' has no attribute {name!r}")


__all__ = ["SampleProduct", "SampleProductError", "write_sample_product"]

"""KappaCat's tile server: mask tiles in the legend colours, mosaics, queries and a web map."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiler.app import create_app
    from tiler.settings import TilerSettings


def __getattr__(name: str) -> Any:
    """The app factory and settings, imported on first use (the app brings titiler and GDAL)."""
    if name == "create_app":
        from tiler.app import create_app

        return create_app
    if name == "TilerSettings":
        from tiler.settings import TilerSettings

        return TilerSettings
    raise AttributeError(f"module 'tiler' has no attribute {name!r}")


__all__ = ["TilerSettings", "create_app"]

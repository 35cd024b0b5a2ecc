"""KappaCat's tile server: mask tiles in the legend colours, mosaics, queries and a web map."""

from __future__ import annotations

from tiler.app import create_app
from tiler.settings import TilerSettings

__all__ = ["TilerSettings", "create_app"]

"""KappaCat: an open STAC catalogue of Sentinel-2 cloud and cloud-shadow masks.

This small package holds the glue shared by the components: the mask legend, the database
settings and the ``kappacat`` command.
"""

from __future__ import annotations

from kappacat.legend import LEGEND, LegendClass, legend_colormap

__all__ = ["LEGEND", "LegendClass", "legend_colormap"]
__version__ = "0.1.0"

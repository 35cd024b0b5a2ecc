"""KappaCat: an open STAC catalogue of Sentinel-2 cloud and cloud-shadow masks.

This package is the roof over the components: the ``kappacat`` command, the database
migration and the demo. What every component shares lives in :mod:`catalog`.
"""

from __future__ import annotations

from catalog import __version__

__all__ = ["__version__"]

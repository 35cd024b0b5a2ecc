"""The STAC extension schema URLs KappaCat's items and collections declare."""

from __future__ import annotations

CLASSIFICATION = "https://stac-extensions.github.io/classification/v2.0.0/schema.json"
EO = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
GRID = "https://stac-extensions.github.io/grid/v1.1.0/schema.json"
MGRS = "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json"
PROCESSING = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
PROJECTION = "https://stac-extensions.github.io/projection/v1.2.0/schema.json"
"""v1.2.0, not v2.0.0: it has both ``proj:code`` and ``proj:epsg``, and stackstac (0.5) reads
only ``proj:epsg``; v2.0.0 removed that field and its schema refuses it."""
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
RENDER = "https://stac-extensions.github.io/render/v2.0.0/schema.json"
SAT = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"
VIEW = "https://stac-extensions.github.io/view/v1.0.0/schema.json"
WEB_MAP_LINKS = "https://stac-extensions.github.io/web-map-links/v1.2.0/schema.json"

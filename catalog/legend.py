"""The KappaMask legend: the classes a mask pixel can take, their names, colours and meaning.

Everything that depends on what a class *means* asks it here: whether a pixel of it is a
valid observation (it counts in the class shares' and the cloud cover's denominators),
whether it is cloudy (it counts in ``eo:cloud_cover``). Adding or renaming a class is a change
in this module alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LegendClass:
    """One class of the mask legend."""

    value: int
    name: str
    title: str
    description: str
    color: str  # "#rrggbb", or "" for transparent
    valid: bool = False
    """A valid observation of the surface or of a cloud (not no data, not missing input)."""
    cloudy: bool = False
    """Counts as cloud in ``eo:cloud_cover``."""

    def to_json(self) -> dict[str, Any]:
        """The class as JSON (the tiler's legend, the web map, the mask COG's tags)."""
        return {
            "value": self.value,
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "color": self.color or None,
        }

    @property
    def rgba(self) -> tuple[int, int, int, int]:
        """The class colour as an RGBA tuple (no data is fully transparent)."""
        if not self.color:
            return (0, 0, 0, 0)
        hexa = self.color.lstrip("#")
        return (int(hexa[0:2], 16), int(hexa[2:4], 16), int(hexa[4:6], 16), 255)


NODATA = 0
CLEAR = 1
CLOUD_SHADOW = 2
SEMI_TRANSPARENT_CLOUD = 3
CLOUD = 4
MISSING = 5

LEGEND: tuple[LegendClass, ...] = (
    LegendClass(NODATA, "no_data", "No data", "Outside the raster footprint", ""),
    LegendClass(CLEAR, "clear", "Clear", "Clear land or water surface", "#3a9d23", valid=True),
    LegendClass(
        CLOUD_SHADOW,
        "cloud_shadow",
        "Cloud shadow",
        "Shadow cast by a cloud",
        "#5a4a3a",
        valid=True,
    ),
    LegendClass(
        SEMI_TRANSPARENT_CLOUD,
        "semi_transparent_cloud",
        "Semi-transparent cloud",
        "Thin or semi-transparent cloud through which the surface shows",
        "#9ecae1",
        valid=True,
        cloudy=True,
    ),
    LegendClass(CLOUD, "cloud", "Cloud", "Opaque cloud", "#ffffff", valid=True, cloudy=True),
    LegendClass(MISSING, "missing", "Missing", "Missing or invalid input data", "#ff00ff"),
)

LEGEND_BY_VALUE: dict[int, LegendClass] = {c.value: c for c in LEGEND}
CLASSES: tuple[int, ...] = tuple(c.value for c in LEGEND if c.value != NODATA)
"""Every class a pixel inside the footprint can have."""
VALID: frozenset[int] = frozenset(c.value for c in LEGEND if c.valid)
"""The classes of valid observations."""
CLOUDY: frozenset[int] = frozenset(c.value for c in LEGEND if c.cloudy)
"""The classes ``eo:cloud_cover`` counts."""


def cloud_percent(counts: dict[int, int]) -> float:
    """Cloudy pixels in percent of the valid ones (``eo:cloud_cover``), from class counts."""
    valid = sum(counts.get(v, 0) for v in VALID)
    return 100.0 * sum(counts.get(v, 0) for v in CLOUDY) / valid if valid else 0.0


def legend_colormap() -> dict[int, tuple[int, int, int, int]]:
    """The legend as a GDAL/rio-tiler colour map: value to RGBA."""
    return {c.value: c.rgba for c in LEGEND}

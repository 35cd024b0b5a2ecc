"""The KappaMask legend: the classes a mask pixel can take, their names and colours."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LegendClass:
    """One class of the mask legend."""

    value: int
    name: str
    title: str
    description: str
    color: str  # "#rrggbb", or "" for transparent

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
    LegendClass(CLEAR, "clear", "Clear", "Clear land or water surface", "#3a9d23"),
    LegendClass(CLOUD_SHADOW, "cloud_shadow", "Cloud shadow", "Shadow cast by a cloud", "#5a4a3a"),
    LegendClass(
        SEMI_TRANSPARENT_CLOUD,
        "semi_transparent_cloud",
        "Semi-transparent cloud",
        "Thin or semi-transparent cloud through which the surface shows",
        "#9ecae1",
    ),
    LegendClass(CLOUD, "cloud", "Cloud", "Opaque cloud", "#ffffff"),
    LegendClass(MISSING, "missing", "Missing", "Missing or invalid input data", "#ff00ff"),
)

LEGEND_BY_VALUE: dict[int, LegendClass] = {c.value: c for c in LEGEND}


def legend_colormap() -> dict[int, tuple[int, int, int, int]]:
    """The legend as a GDAL/rio-tiler colour map: value to RGBA."""
    return {c.value: c.rgba for c in LEGEND}

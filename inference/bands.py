"""Sentinel-2 MSI bands: identifiers, common names and native resolutions."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Band:
    """One MSI band."""

    id: str  # "B02"
    common_name: str  # "blue" (the STAC eo common name, as Earth Search's asset keys)
    resolution: int  # native ground sampling distance in metres


BANDS: tuple[Band, ...] = (
    Band("B01", "coastal", 60),
    Band("B02", "blue", 10),
    Band("B03", "green", 10),
    Band("B04", "red", 10),
    Band("B05", "rededge1", 20),
    Band("B06", "rededge2", 20),
    Band("B07", "rededge3", 20),
    Band("B08", "nir", 10),
    Band("B8A", "nir08", 20),
    Band("B09", "nir09", 60),
    Band("B10", "cirrus", 60),
    Band("B11", "swir16", 20),
    Band("B12", "swir22", 20),
)
BANDS_BY_ID: dict[str, Band] = {b.id: b for b in BANDS}
SCL = "SCL"
"""The id under which readers list the scene classification (SCL) of L2A products."""
SCL_RESOLUTION = 20
"""The SCL's own resolution (Sen2Cor also writes a 60 m one, resampled from it)."""
_BY_NAME: dict[str, Band] = {b.common_name: b for b in BANDS}
# MTD band_id attributes (RADIO_ADD_OFFSET / BOA_ADD_OFFSET) count bands in this order
BAND_INDEX: dict[str, int] = {b.id: i for i, b in enumerate(BANDS)}

_ID_RE = re.compile(r"^b(\d{1,2}|8a)$")


def band_id(name: str) -> str | None:
    """The canonical band id ("B02") of a band name or STAC asset key, or None.

    Accepts ids in any case and zero padding ("B2", "b02", "B8A"), common names ("blue",
    "swir16") and CDSE-style keys with a resolution suffix ("B02_10m").
    """
    key = name.strip().lower()
    key = re.sub(r"_\d+m$", "", key)
    if key in _BY_NAME:
        return _BY_NAME[key].id
    match = _ID_RE.match(key)
    if not match:
        return None
    number = match.group(1)
    canonical = "B8A" if number == "8a" else f"B{int(number):02d}"
    return canonical if canonical in BANDS_BY_ID else None


def resolution_suffix(name: str) -> int | None:
    """The resolution of a CDSE-style key or SAFE file name suffix ("B02_20m" -> 20), or None."""
    match = re.search(r"_(\d+)m$", name.strip().lower())
    return int(match.group(1)) if match else None

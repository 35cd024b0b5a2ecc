"""Where and when a sample product lies: its MGRS tile grid, acquisition time and sun angles."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

import numpy as np
from pyproj import Transformer

from inference.sample.errors import SampleProductError

TILE_SIZE_10M = 10980
_BAND_LETTERS = "CDEFGHJKLMNPQRSTUVWX"  # MGRS latitude bands, 8 degrees each from 80 S
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"  # MGRS 100 km row letters (cycle of 2000 km)
_COLUMN_SETS = ("STUVWXYZ", "ABCDEFGH", "JKLMNPQR")  # 100 km column letters by zone % 3
_TILE_RE = re.compile(r"^(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z])([A-HJ-NP-V])$")

# Real upper-left corners and orbits of a few tiles (from their tile metadata); others are computed.
_KNOWN_TILES: dict[str, tuple[float, float, int]] = {
    "32UQD": (699960.0, 5900040.0, 65),
    "46RER": (499980.0, 3100020.0, 133),
    "01WCP": (300000.0, 7400040.0, 73),
    "33XWJ": (499980.0, 8900040.0, 25),
}

# Sentinel-2A absolute orbit 41826 began on 2023-06-25; 143 orbits per 10-day cycle.
_ORBIT_EPOCH = datetime(2023, 6, 25, 23, 46, tzinfo=UTC)
_ORBITS_PER_DAY = 14.3


@dataclass(frozen=True)
class TileGrid:
    """The UTM grid of one Sentinel-2 MGRS tile, cut to the sample's size."""

    tile: str  # "32UQD"
    zone: int
    latitude_band: str
    grid_square: str
    epsg: int
    ulx: float
    uly: float
    size: int  # 10 m pixels per side of the sample
    relative_orbit: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) of the sample in UTM metres."""
        extent = self.size * 10.0
        return (self.ulx, self.uly - extent, self.ulx + extent, self.uly)

    @cached_property
    def to_wgs84(self) -> Transformer:
        """Transformer from the tile's UTM CRS to lon/lat."""
        return Transformer.from_crs(self.epsg, 4326, always_xy=True)

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """UTM coordinates to (lon, lat) in degrees."""
        lon, lat = self.to_wgs84.transform(x, y)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    @property
    def center_lonlat(self) -> tuple[float, float]:
        """(lon, lat) of the whole tile's centre (not the sample's: it must not depend on size)."""
        half = TILE_SIZE_10M * 10.0 / 2
        lon, lat = self.lonlat(np.array([self.ulx + half]), np.array([self.uly - half]))
        return float(lon[0]), float(lat[0])


def parse_tile(tile: str, size: int) -> TileGrid:
    """The grid of an MGRS tile such as ``32UQD`` (upper-left corner as in the S2 tiling grid)."""
    match = _TILE_RE.match(tile.upper().lstrip("T"))
    if match is None:
        raise SampleProductError(f"tile {tile!r} is not an MGRS tile id such as '32UQD'")
    zone = int(match.group(1))
    band, column, row = match.group(2), match.group(3), match.group(4)
    if not 1 <= zone <= 60:
        raise SampleProductError(f"tile {tile!r}: UTM zone {zone} is not within 1..60")
    column_set = _COLUMN_SETS[zone % 3]
    if column not in column_set:
        raise SampleProductError(
            f"tile {tile!r}: column letter {column!r} does not occur in UTM zone {zone}"
        )
    name = f"{zone:02d}{band}{column}{row}"
    north = band >= "N"
    epsg = (32600 if north else 32700) + zone
    known = _KNOWN_TILES.get(name)
    if known is not None:
        ulx, uly, orbit = known
    else:
        easting = (column_set.index(column) + 1) * 100_000.0
        northing = _square_northing(zone, band, row, epsg)
        ulx, uly = easting, northing + 100_000.0 + 40.0
        orbit = 1 + sum(ord(c) * (i + 7) for i, c in enumerate(name)) % 143
    return TileGrid(name, zone, band, column + row, epsg, ulx, uly, size, orbit)


def _square_northing(zone: int, band: str, row: str, epsg: int) -> float:
    """Northing of the lower edge of the 100 km square ``row`` that lies in latitude ``band``."""
    offset = 5 if zone % 2 == 0 else 0
    base = ((_ROW_LETTERS.index(row) - offset) % 20) * 100_000.0
    band_south = -80.0 + 8.0 * _BAND_LETTERS.index(band)
    central_meridian = -183.0 + 6.0 * zone
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    _, band_northing = to_utm.transform(central_meridian, band_south)
    northing = base
    while northing + 100_000.0 <= band_northing:
        northing += 2_000_000.0
    return northing


@dataclass(frozen=True)
class Acquisition:
    """When the sample was sensed, by which platform, and where the sun stood."""

    platform: str  # "S2A"
    datatake_start: datetime  # UTC
    sensing_time: datetime  # UTC, the tile's SENSING_TIME
    generation_time: datetime  # UTC, when the (fictitious) ground segment made it
    absolute_orbit: int
    sun_zenith: float  # degrees, mean over the tile
    sun_azimuth: float  # degrees from north, clockwise

    @property
    def spacecraft_name(self) -> str:
        """``Sentinel-2A`` and so on."""
        return f"Sentinel-2{self.platform[-1]}"

    @property
    def earth_sun_u(self) -> float:
        """The reflectance conversion factor U (Earth-Sun distance correction) of the day."""
        doy = self.datatake_start.timetuple().tm_yday
        return 1.0 / (1.0 - 0.01673 * math.cos(0.0172 * (doy - 4))) ** 2


def acquisition_for(grid: TileGrid, day: date) -> Acquisition:
    """A plausible Sentinel-2A acquisition of the tile on ``day`` (mid-morning local time).

    The sun angles are those at the tile's centre, as the tile metadata's mean angles are.
    """
    lon, lat = grid.center_lonlat
    hours = 10.5 - lon / 15.0 + lat / 60.0
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)
    start = start.replace(microsecond=24_000)
    sensing = start + timedelta(seconds=187.4 + (grid.zone % 7) * 11)
    generation = (start + timedelta(hours=2, minutes=13, seconds=45)).replace(microsecond=0)
    orbit = 41826 + round((start - _ORBIT_EPOCH).total_seconds() / 86400.0 * _ORBITS_PER_DAY)
    zenith, azimuth = sun_angles(sensing, np.array([lat]), np.array([lon]))
    return Acquisition(
        platform="S2A",
        datatake_start=start,
        sensing_time=sensing,
        generation_time=generation,
        absolute_orbit=max(orbit, 1),
        sun_zenith=float(zenith[0]),
        sun_azimuth=float(azimuth[0]),
    )


def sun_angles(when: datetime, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solar zenith and azimuth in degrees (NOAA's approximations, good to about 0.1 degree)."""
    doy = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60.0 + when.second / 3600.0
    gamma = 2.0 * math.pi / 365.0 * (doy - 1 + (hour - 12.0) / 24.0)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    true_solar_minutes = hour * 60.0 + eqtime + 4.0 * lon
    hour_angle = np.radians(true_solar_minutes / 4.0 - 180.0)
    phi = np.radians(lat)
    cos_zenith = np.sin(phi) * math.sin(decl) + np.cos(phi) * math.cos(decl) * np.cos(hour_angle)
    zenith = np.degrees(np.arccos(np.clip(cos_zenith, -1.0, 1.0)))
    azimuth = np.degrees(
        np.arctan2(
            np.sin(hour_angle), np.cos(hour_angle) * np.sin(phi) - math.tan(decl) * np.cos(phi)
        )
    )
    return zenith, (azimuth + 180.0) % 360.0

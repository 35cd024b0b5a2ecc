"""What a sample product is asked to be (checked arguments) and the names and places it gets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from inference.conventions import baseline_offset_dn
from inference.sample.bands import BANDS, Band
from inference.sample.errors import SampleProductError
from inference.sample.grid import TILE_SIZE_10M, Acquisition, TileGrid, acquisition_for, parse_tile
from inference.sample.scene import EDGE_BOTTOM_X, EDGE_RIGHT_Y

LEVELS = ("L1C", "L2A")
FORMATS = ("safe", "stac")
DEFAULT_DATE = date(2023, 6, 25)
_BASELINE_RE = re.compile(r"^\d{2}\.\d{2}$")


@dataclass(frozen=True)
class SampleSpec:
    """The checked arguments of one sample product."""

    size: int
    level: str
    baseline: str
    seed: int
    day: date
    tile: str
    fmt: str

    @property
    def radiometric_offset(self) -> int:
        """The offset added to reflectance x quantification: -1000 from baseline 04.00 on."""
        return int(baseline_offset_dn(self.baseline))

    @property
    def quantification(self) -> int:
        """The quantification value: DN / 10000 is reflectance (after the offset)."""
        return 10000


def check_spec(
    *,
    size: int,
    level: str,
    baseline: str,
    seed: int,
    day: date | None,
    tile: str,
    fmt: str,
) -> SampleSpec:
    """Check ``write_sample_product``'s arguments; raise SampleProductError naming a bad one."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise SampleProductError(f"size must be an integer number of 10 m pixels, not {size!r}")
    if not 60 <= size <= TILE_SIZE_10M:
        raise SampleProductError(f"size must be between 60 and {TILE_SIZE_10M} pixels, not {size}")
    if size % 6:
        raise SampleProductError(
            f"size must be divisible by 6 (so that the 20 m and 60 m bands have whole pixels), "
            f"not {size}"
        )
    level_up = str(level).upper()
    if level_up not in LEVELS:
        raise SampleProductError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    if not isinstance(baseline, str) or not _BASELINE_RE.match(baseline):
        raise SampleProductError(
            f"baseline must be a processing baseline such as '05.09' (NN.NN), not {baseline!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SampleProductError(f"seed must be a non-negative integer, not {seed!r}")
    if day is not None and not isinstance(day, date):
        raise SampleProductError(f"date must be a datetime.date, not {day!r}")
    fmt_low = str(fmt).lower()
    if fmt_low not in FORMATS:
        raise SampleProductError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    grid = parse_tile(str(tile), int(size))  # raises for a bad tile
    the_day = day.date() if isinstance(day, datetime) else (day or DEFAULT_DATE)
    return SampleSpec(int(size), level_up, baseline, int(seed), the_day, grid.tile, fmt_low)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%S")


@dataclass(frozen=True)
class ProductContext:
    """A sample product's grid, acquisition and every name derived from them."""

    spec: SampleSpec
    grid: TileGrid
    acq: Acquisition

    @classmethod
    def create(cls, spec: SampleSpec) -> ProductContext:
        """The context of a checked spec."""
        grid = parse_tile(spec.tile, spec.size)
        return cls(spec, grid, acquisition_for(grid, spec.day))

    # -- names -----------------------------------------------------------------------------------

    @property
    def start(self) -> str:
        """Datatake sensing start as in names: ``20230625T102021``."""
        return _stamp(self.acq.datatake_start)

    @property
    def generation(self) -> str:
        """Generation time as in names."""
        return _stamp(self.acq.generation_time)

    @property
    def n_baseline(self) -> str:
        """``N0509``."""
        return "N" + self.spec.baseline.replace(".", "")

    @property
    def product_id(self) -> str:
        """``S2A_MSIL1C_20230625T102021_N0509_R065_T32UQD_20230625T123456``."""
        return (
            f"{self.acq.platform}_MSI{self.spec.level}_{self.start}_{self.n_baseline}"
            f"_R{self.grid.relative_orbit:03d}_T{self.grid.tile}_{self.generation}"
        )

    @property
    def item_id(self) -> str:
        """The Earth Search v1 item id: ``S2A_32UQD_20230625_0_L1C``."""
        day = self.acq.datatake_start.strftime("%Y%m%d")
        return f"{self.acq.platform}_{self.grid.tile}_{day}_0_{self.spec.level}"

    @property
    def datastrip_start(self) -> str:
        """Sensing start of the datastrip, as in the granule directory name."""
        gap = (self.acq.sensing_time - self.acq.datatake_start) / 2
        return _stamp(self.acq.datatake_start + gap)

    @property
    def granule_name(self) -> str:
        """``L1C_T32UQD_A041826_20230625T102350``."""
        return (
            f"{self.spec.level}_T{self.grid.tile}_A{self.acq.absolute_orbit:06d}"
            f"_{self.datastrip_start}"
        )

    @property
    def baseline_suffix(self) -> str:
        """``N05.09`` as at the end of tile and datastrip ids."""
        return "N" + self.spec.baseline

    @property
    def tile_id(self) -> str:
        """The granule identifier."""
        return (
            f"{self.acq.platform}_OPER_MSI_{self.spec.level}_TL_2APS_{self.generation}"
            f"_A{self.acq.absolute_orbit:06d}_T{self.grid.tile}_{self.baseline_suffix}"
        )

    @property
    def datastrip_id(self) -> str:
        """The datastrip identifier."""
        return (
            f"{self.acq.platform}_OPER_MSI_{self.spec.level}_DS_2APS_{self.generation}"
            f"_S{self.datastrip_start}_{self.baseline_suffix}"
        )

    @property
    def datatake_id(self) -> str:
        """``GS2A_20230625T102021_041826_N05.09``."""
        return (
            f"G{self.acq.platform}_{self.start}_{self.acq.absolute_orbit:06d}"
            f"_{self.baseline_suffix}"
        )

    def image_file(self, band: str, res: int) -> str:
        """A band's path in the SAFE without ``.jp2``, as listed in IMAGE_FILE."""
        stem = f"GRANULE/{self.granule_name}/IMG_DATA/"
        if self.spec.level == "L1C":
            return f"{stem}T{self.grid.tile}_{self.start}_{band}"
        return f"{stem}R{res}m/T{self.grid.tile}_{self.start}_{band}_{res}m"

    # -- geometry --------------------------------------------------------------------------------

    def footprint_xy(self) -> list[tuple[float, float]]:
        """The valid-data outline in UTM metres (closed ring), the no-data corner cut off."""
        minx, miny, maxx, maxy = self.grid.bounds
        width, height = maxx - minx, maxy - miny
        ring = [
            (minx, maxy),
            (maxx, maxy),
            (maxx, maxy - EDGE_RIGHT_Y * height),
            (minx + EDGE_BOTTOM_X * width, miny),
            (minx, miny),
        ]
        return [*ring, ring[0]]

    def footprint_lonlat(self) -> list[tuple[float, float]]:
        """The footprint ring in WGS84 (lon, lat), counter-clockwise as GeoJSON wants."""
        xy = self.footprint_xy()[::-1]
        lon, lat = self.grid.lonlat(np.array([p[0] for p in xy]), np.array([p[1] for p in xy]))
        return [(round(float(a), 9), round(float(b), 9)) for a, b in zip(lon, lat, strict=True)]

    def bands(self) -> list[tuple[Band, int]]:
        """The (band, resolution) pairs the product holds, as a real product of its level does."""
        if self.spec.level == "L1C":
            return [(b, b.resolution) for b in BANDS]
        # L2A: every band at its native resolution and resampled to the coarser ones; no B10,
        # and B08 only at 10 m, B09 only at 60 m (as Sen2Cor writes them).
        out: list[tuple[Band, int]] = []
        for res in (10, 20, 60):
            for b in BANDS:
                if b.name == "B10" or (b.name == "B08" and res != 10):
                    continue
                if (res == 10 and b.resolution != 10) or (res == 20 and b.name == "B09"):
                    continue
                out.append((b, res))
        return out

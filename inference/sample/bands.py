"""The 13 Sentinel-2 MSI bands and the reflectance spectra the sample scenes are made of."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Band:
    """One MSI band as named in SAFE products and in Earth Search items."""

    name: str  # "B02", as in file names
    band_id: int  # bandId in the product metadata, 0..12
    resolution: int  # native resolution in metres
    asset_key: str  # Earth Search v1 asset key: "blue"
    common_name: str  # STAC eo common name
    center: float  # central wavelength in micrometres
    fwhm: float  # full width at half maximum in micrometres
    wl_min: int  # nanometres, as in Spectral_Information
    wl_max: int
    wl_central: float

    @property
    def physical_band(self) -> str:
        """The band as the product metadata names it: ``B2``, ``B8A``."""
        return "B" + self.name[1:].lstrip("0") if self.name != "B8A" else "B8A"

    @property
    def description(self) -> str:
        """A short human description, as Earth Search gives it."""
        return f"{self.common_name.capitalize()} (band {self.name[1:].lstrip('0')})"


BANDS: tuple[Band, ...] = (
    Band("B01", 0, 60, "coastal", "coastal", 0.443, 0.027, 412, 456, 442.7),
    Band("B02", 1, 10, "blue", "blue", 0.49, 0.098, 456, 533, 492.7),
    Band("B03", 2, 10, "green", "green", 0.56, 0.045, 538, 583, 559.8),
    Band("B04", 3, 10, "red", "red", 0.665, 0.038, 646, 684, 664.6),
    Band("B05", 4, 20, "rededge1", "rededge", 0.704, 0.019, 695, 714, 704.1),
    Band("B06", 5, 20, "rededge2", "rededge", 0.74, 0.018, 731, 749, 740.5),
    Band("B07", 6, 20, "rededge3", "rededge", 0.783, 0.028, 769, 797, 782.8),
    Band("B08", 7, 10, "nir", "nir", 0.842, 0.145, 760, 907, 832.8),
    Band("B8A", 8, 20, "nir08", "nir08", 0.865, 0.033, 837, 881, 864.7),
    Band("B09", 9, 60, "nir09", "nir09", 0.945, 0.026, 932, 958, 945.1),
    Band("B10", 10, 60, "cirrus", "cirrus", 1.3735, 0.075, 1337, 1412, 1373.5),
    Band("B11", 11, 20, "swir16", "swir16", 1.61, 0.143, 1539, 1682, 1613.7),
    Band("B12", 12, 20, "swir22", "swir22", 2.19, 0.242, 2078, 2320, 2202.4),
)
BANDS_BY_NAME: dict[str, Band] = {b.name: b for b in BANDS}

# Exo-atmospheric solar irradiance (W/m2/um) and physical gains, as in real product metadata.
SOLAR_IRRADIANCE = (
    1884.69, 1959.66, 1823.24, 1512.06, 1424.64, 1287.61, 1162.08,
    1041.63, 955.32, 812.92, 367.15, 245.59, 85.25,
)  # fmt: skip
PHYSICAL_GAINS = (
    4.10650374, 3.75008945, 4.1754601, 4.50605, 5.18657807, 4.85045988, 4.51187374,
    6.12993247, 5.11089037, 8.48667727, 54.77849145, 35.11586051, 106.16764317,
)  # fmt: skip

# Surface (bottom-of-atmosphere) reflectance of the land cover types, per band B01..B12.
VEGETATION = (
    0.030, 0.035, 0.075, 0.040, 0.110, 0.260, 0.330, 0.360, 0.375, 0.370, 0.0, 0.190, 0.095,
)  # fmt: skip
SOIL = (
    0.075, 0.095, 0.135, 0.175, 0.205, 0.225, 0.245, 0.265, 0.275, 0.285, 0.0, 0.330, 0.270,
)  # fmt: skip
WATER = (
    0.060, 0.055, 0.050, 0.028, 0.020, 0.013, 0.011, 0.009, 0.008, 0.006, 0.0, 0.004, 0.003,
)  # fmt: skip

# Top-of-atmosphere = PATH + TRANSMITTANCE * surface (a one-line atmosphere, good enough here).
PATH = (
    0.110, 0.085, 0.056, 0.036, 0.030, 0.025, 0.022, 0.018, 0.016, 0.010, 0.0015, 0.005, 0.003,
)  # fmt: skip
TRANSMITTANCE = (
    0.74, 0.80, 0.86, 0.90, 0.91, 0.92, 0.93, 0.93, 0.94, 0.40, 0.01, 0.95, 0.93,
)  # fmt: skip

# Share of the surface signal left in a cloud shadow (diffuse sky light; bluer bands keep more).
SHADOW_KEEP = (
    0.50, 0.45, 0.38, 0.33, 0.31, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.28, 0.27,
)  # fmt: skip

# Reflectance of an opaque water cloud, relative to its visible brightness; and of thin ice cloud.
THICK_CLOUD = (
    1.02, 1.00, 0.99, 0.98, 0.98, 0.98, 0.98, 0.97, 0.96, 0.62, 0.0, 0.62, 0.45,
)  # fmt: skip
THIN_CLOUD = (
    1.02, 1.00, 0.99, 0.97, 0.96, 0.95, 0.95, 0.94, 0.93, 0.70, 0.0, 0.78, 0.62,
)  # fmt: skip

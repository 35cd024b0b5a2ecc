"""A seeded synthetic Sentinel-2 scene: land, water, thick and thin clouds, their shadows, and
veils of thin high cirrus.

Thin cirrus is what Sentinel-2's cirrus band B10 shows and the visible bands hardly do: a few
per cent of haze, and a B10 reflectance in Sen2Cor's thin-cirrus range (0.012 to 0.035). The
truth calls it semi-transparent cloud where it is at least as thick as Sen2Cor's threshold
detects; the L2A scene classification calls the semi-transparent pixels thin cirrus (10).

Every field is made on a coarse base grid (60 m) with a margin, so that shadows of clouds just
outside the sample fall into it; bands, the truth and the scene classification are then
interpolated to 10, 20 or 60 m in row blocks, so memory stays bounded at full size.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from catalog.legend import CLEAR, CLOUD, CLOUD_SHADOW, NODATA, SEMI_TRANSPARENT_CLOUD
from inference.sample import bands as spectra
from inference.sample.bands import BANDS_BY_NAME

BASE_RES = 60  # metres per base-grid pixel
THICK_ALPHA = 0.55  # combined cloud opacity from which the truth says "cloud"
THIN_ALPHA = 0.17  # ... and "semi-transparent cloud"
SHADOW_LEVEL = 0.3  # shadow strength from which the truth says "cloud shadow"
# The no-data corner (as at a swath edge), in fractions of the sample: the edge runs from the
# bottom edge at 62 % of the width to the right edge at 35 % of the height.
EDGE_BOTTOM_X = 0.62
EDGE_RIGHT_Y = 0.35
CLOUD_BASES = (1000.0, 1600.0, 2200.0, 2800.0)  # metres: the height layers of the clouds
CIRRUS_COVER = 0.12  # share of the scene under some cirrus
CIRRUS_B10 = 0.026  # B10 top-of-atmosphere reflectance a full cirrus veil adds
CIRRUS_HAZE = 0.05  # opacity of a full cirrus veil in the other bands
CIRRUS_L2A_HAZE = 0.015  # ... what is left of it after Sen2Cor's cirrus correction
CIRRUS_LEVEL = 0.3  # cirrus thickness from which the truth says "semi-transparent cloud": the
# B10 reflectance of ground and veil then reaches Sen2Cor's 0.012 (0.0045 + 0.3 x 0.026)
_TEXTURE_SIZE = 509  # a prime, so the tiled texture does not line up with the blocks


class Scene:
    """The fields of one generated scene, and their values at any resolution in row blocks."""

    def __init__(
        self, size: int, seed: int, sun_zenith: float, sun_azimuth: float, level: str
    ) -> None:
        self.size = size
        self.level = level
        self.n = size * 10 // BASE_RES
        rng = np.random.default_rng(seed)
        tan_zenith = math.tan(math.radians(min(sun_zenith, 75.0)))
        self.margin = math.ceil(CLOUD_BASES[-1] * tan_zenith / BASE_RES) + 4
        shape = (self.n + 2 * self.margin,) * 2
        self.cloud_cover_target = float(rng.uniform(0.2, 0.34))
        thin_share = float(rng.uniform(0.18, 0.3))
        self._make_land(rng, shape)
        layer = self._make_clouds(rng, shape, thin_share)
        self._make_shadows(rng, layer, tan_zenith, sun_azimuth)
        self._make_texture(rng)
        # its own generator, so that adding cirrus left every other field of a seed as it was
        self._make_cirrus(np.random.default_rng((seed, 10)), shape)

    def _make_land(self, rng: np.random.Generator, shape: tuple[int, int]) -> None:
        """Vegetation fraction from smooth noise and crop parcels, water bodies, soil tones."""
        landscape = _fbm(rng, shape, (6000.0, 2000.0, 700.0), (1.0, 0.5, 0.3))
        parcels = _parcels(rng, shape)
        self.veg = np.clip(0.55 + 0.3 * landscape + 0.45 * (parcels - 0.5), 0.0, 1.0)
        wet = _fbm(rng, shape, (5000.0, 1500.0, 500.0), (1.0, 0.45, 0.2))
        wet_threshold = np.quantile(self._inner(wet), 1.0 - rng.uniform(0.03, 0.07))
        self.water = np.clip((wet - wet_threshold) / 0.12, 0.0, 1.0).astype(np.float32)
        soil_tone = 1.0 + 0.12 * _fbm(rng, shape, (3000.0, 800.0), (1.0, 0.5))
        self.soil_tone = soil_tone.astype(np.float32)

    def _make_clouds(
        self, rng: np.random.Generator, shape: tuple[int, int], thin_share: float
    ) -> np.ndarray:
        """Opaque clouds with soft edges and bright cores, and veils of thin cloud.

        Returns the height layer (index into CLOUD_BASES) of every base pixel.
        """
        cloud_scale = min(1.0, max(0.4, self.size / 1098))  # smaller clouds in small samples
        scales = (5000.0, 2200.0, 900.0, 350.0)
        fluff = _fbm(rng, shape, scales, (1.0, 0.6, 0.35, 0.18), cloud_scale)
        fluff = _even_out(fluff, min(max(self.n / 3.0, 8.0), 12500.0 * cloud_scale / BASE_RES))
        thick_cover = self.cloud_cover_target * (1.0 - thin_share)
        threshold = np.quantile(self._inner(fluff), 1.0 - thick_cover * 1.12)
        self.thick = (np.clip((fluff - threshold) / 0.45, 0.0, 1.0) ** 0.6).astype(np.float32)
        billows = _fbm(rng, shape, (1800.0, 700.0, 250.0), (1.0, 0.7, 0.45))
        brightness = np.clip(0.42 + 0.22 * self.thick + 0.11 * billows, 0.3, 0.88)
        self.brightness = brightness.astype(np.float32)
        height_noise = _fbm(rng, shape, (8000.0,), (1.0,), cloud_scale)
        layer = np.digitize(height_noise, np.quantile(height_noise, (0.25, 0.5, 0.75)))
        self.cloud_top = np.asarray(CLOUD_BASES, dtype=np.float32)[layer] + 1500.0

        veil = _fbm(rng, shape, (7000.0, 2500.0, 800.0), (1.0, 0.5, 0.25), cloud_scale)
        veil_threshold = np.quantile(self._inner(veil), 1.0 - self.cloud_cover_target * thin_share)
        plateau = float(rng.uniform(0.34, 0.44))
        streaks = 1.0 + 0.12 * _fbm(rng, shape, (600.0, 250.0), (1.0, 0.5))
        thin = plateau * _smoothstep((veil - veil_threshold) / 0.3) * streaks
        self.thin = (thin * (1.0 - self.thick)).astype(np.float32)  # no veil over the cores
        self.alpha = (1.0 - (1.0 - self.thick) * (1.0 - self.thin)).astype(np.float32)
        return layer

    def _make_shadows(
        self, rng: np.random.Generator, layer: np.ndarray, tan_zenith: float, sun_azimuth: float
    ) -> None:
        """Each height layer of the opaque cores, moved away from the sun by its height."""
        az = math.radians(sun_azimuth)
        shadow = np.zeros(self.thick.shape, dtype=np.float32)
        core = np.clip((self.thick - 0.5) / 0.4, 0.0, 1.0)  # the frayed edges cast little shadow
        for index, height in enumerate(CLOUD_BASES):
            distance = height * tan_zenith / BASE_RES  # in base pixels
            part = np.where(layer == index, core, 0.0).astype(np.float32)
            offset = (math.cos(az) * distance, -math.sin(az) * distance)  # rows go south
            np.maximum(shadow, ndimage.shift(part, offset, order=1, cval=0.0), out=shadow)
        strength = float(rng.uniform(0.9, 1.0))
        self.shadow = (ndimage.gaussian_filter(shadow, 0.8) * strength).astype(np.float32)

    def _make_cirrus(self, rng: np.random.Generator, shape: tuple[int, int]) -> None:
        """Veils of thin cirrus, streaky, independent of the lower clouds (they are higher)."""
        scale = min(1.0, max(0.4, self.size / 1098))
        veil = _fbm(rng, shape, (9000.0, 3000.0, 1000.0), (1.0, 0.5, 0.25), scale)
        threshold = np.quantile(self._inner(veil), 1.0 - CIRRUS_COVER)
        streaks = 1.0 + 0.08 * _fbm(rng, shape, (900.0, 300.0), (1.0, 0.5))
        cirrus = _smoothstep((veil - threshold) / 0.35) * streaks
        self.cirrus = np.clip(cirrus, 0.0, 1.0).astype(np.float32)

    def _make_texture(self, rng: np.random.Generator) -> None:
        """Sub-base-pixel detail: a small patch of speckle and 20-30 m structure, tiled."""
        white = rng.standard_normal((_TEXTURE_SIZE,) * 2).astype(np.float32)
        grain = ndimage.gaussian_filter(white, 1.5, mode="wrap")
        grain /= grain.std()
        self.texture = (1.0 + 0.01 * grain + 0.012 * white).astype(np.float32)
        self.texture_offsets = {
            name: (int(rng.integers(_TEXTURE_SIZE)), int(rng.integers(_TEXTURE_SIZE)))
            for name in BANDS_BY_NAME
        }

    def _inner(self, field: np.ndarray) -> np.ndarray:
        """The part of an extended base-grid field that covers the sample itself."""
        m = self.margin
        return field[m : m + self.n, m : m + self.n]

    # -- reflectance on the base grid ------------------------------------------------------------

    def band_base(self, name: str) -> np.ndarray:
        """Reflectance (TOA for L1C, BOA for L2A) of a band on the extended base grid."""
        i = BANDS_BY_NAME[name].band_id
        surface = (1.0 - self.water) * (
            self.veg * spectra.VEGETATION[i] + (1.0 - self.veg) * spectra.SOIL[i] * self.soil_tone
        ) + self.water * spectra.WATER[i]
        lit = surface * (1.0 - self.shadow * (1.0 - spectra.SHADOW_KEEP[i]))
        if name == "B10":  # cirrus band: the surface is hidden by water vapour, high clouds shine
            ground = spectra.PATH[i] + spectra.TRANSMITTANCE[i] * lit
            high = np.clip((self.cloud_top - 2000.0) / 2500.0, 0.0, 1.0)
            thick = self.brightness * (0.015 + 0.09 * high)
            thin = self.brightness * 0.3
        else:
            if self.level == "L1C":
                ground = (
                    spectra.PATH[i] * (1.0 - 0.15 * self.shadow) + spectra.TRANSMITTANCE[i] * lit
                )
            else:
                ground = lit
            thick = self.brightness * spectra.THICK_CLOUD[i]
            thin = self.brightness * spectra.THIN_CLOUD[i]
        out = (1.0 - self.thin) * ((1.0 - self.thick) * ground + self.thick * thick)
        out += self.thin * thin
        if name == "B10":  # the cirrus band sees the ice veil above everything else
            out += self.cirrus * CIRRUS_B10
        else:  # Sen2Cor's cirrus correction takes most of the haze out of L2A reflectance
            haze = self.cirrus * (CIRRUS_HAZE if self.level == "L1C" else CIRRUS_L2A_HAZE)
            out = (1.0 - haze) * out + haze * (0.55 * spectra.THIN_CLOUD[i])
        return out.astype(np.float32)

    # -- values at a resolution, in row blocks ---------------------------------------------------

    def upsample(self, field: np.ndarray, res: int, row0: int, row1: int) -> np.ndarray:
        """A base-grid field, bilinearly interpolated to rows row0:row1 of the res-metre grid.

        Interpolates the few base rows involved along x first, then along y, phase by phase of
        the integer zoom factor, so that every step works on contiguous slices.
        """
        width = self.size * 10 // res
        m = self.margin
        if res == BASE_RES:
            return np.array(field[m + row0 : m + row1, m : m + width], copy=True)
        factor = BASE_RES // res
        base0 = m + row0 // factor - 1  # the base rows that rows row0:row1 need
        base1 = m + (row1 - 1) // factor + 2
        strip = _zoom_axis(field[base0:base1, m - 1 : m + width // factor + 1], factor, axis=1)
        out = _zoom_axis(strip, factor, axis=0)
        start = row0 - (base0 + 1 - m) * factor
        return out[start : start + row1 - row0]

    def valid(self, res: int, row0: int, row1: int) -> np.ndarray:
        """True where the pixel centre lies inside the footprint (outside the no-data corner)."""
        width = self.size * 10 // res
        y = (np.arange(row0, row1) + 0.5) / (self.size * 10 // res)  # 0 at the top, 1 at bottom
        x = (np.arange(width) + 0.5) / width
        # The edge runs from (EDGE_BOTTOM_X, 1) to (1, EDGE_RIGHT_Y); beyond it is no data.
        edge_x = EDGE_BOTTOM_X + (1.0 - y) * (1.0 - EDGE_BOTTOM_X) / (1.0 - EDGE_RIGHT_Y)
        return x[None, :] <= edge_x[:, None]

    def band_block(self, name: str, base: np.ndarray, res: int, row0: int, row1: int) -> np.ndarray:
        """Reflectance of rows row0:row1 at res metres, with sensor-scale texture (NaN: no data)."""
        out = self.upsample(base, res, row0, row1)
        oy, ox = self.texture_offsets[name]
        cols = (np.arange(out.shape[1]) + ox) % _TEXTURE_SIZE
        strip = self.texture[:, cols]  # the texture repeated along x, then taken row by row
        rows = (np.arange(row0, row1) + oy) % _TEXTURE_SIZE
        out *= strip[rows]
        out[~self.valid(res, row0, row1)] = np.nan
        return out

    def truth_block(self, row0: int, row1: int, res: int = 10) -> np.ndarray:
        """The KappaMask-legend truth of rows row0:row1 (10 m unless res says otherwise)."""
        alpha = self.upsample(self.alpha, res, row0, row1)
        shadow = self.upsample(self.shadow, res, row0, row1)
        cirrus = self.upsample(self.cirrus, res, row0, row1)
        out = np.full(alpha.shape, CLEAR, dtype=np.uint8)
        out[shadow >= SHADOW_LEVEL] = CLOUD_SHADOW
        out[(alpha >= THIN_ALPHA) | (cirrus >= CIRRUS_LEVEL)] = SEMI_TRANSPARENT_CLOUD
        out[alpha >= THICK_ALPHA] = CLOUD
        out[~self.valid(res, row0, row1)] = NODATA
        return out

    def scl_block(self, res: int, row0: int, row1: int) -> np.ndarray:
        """A Sen2Cor-like scene classification (SCL) of rows row0:row1 at res metres."""
        truth = self.truth_block(row0, row1, res)
        veg = self.upsample(self.veg, res, row0, row1)
        water = self.upsample(self.water, res, row0, row1)
        alpha = self.upsample(self.alpha, res, row0, row1)
        out = np.where(veg >= 0.5, 4, 5).astype(np.uint8)
        out[water >= 0.5] = 6
        out[truth == CLOUD_SHADOW] = 3
        out[truth == SEMI_TRANSPARENT_CLOUD] = 10
        out[truth == CLOUD] = np.where(alpha[truth == CLOUD] >= 0.85, 9, 8)
        out[truth == NODATA] = 0
        return out


def _zoom_axis(values: np.ndarray, factor: int, axis: int) -> np.ndarray:
    """Bilinear zoom by an integer factor along one axis, pixel-centre aligned.

    ``values`` has one extra sample at each end of that axis; the result covers the samples in
    between: output sample k * factor + p lies at input position k + (p + 0.5) / factor - 0.5.
    """
    values = np.moveaxis(values, axis, 0)
    n = values.shape[0] - 2
    out = np.empty((n * factor, *values.shape[1:]), dtype=np.float32)
    for phase in range(factor):
        position = (phase + 0.5) / factor - 0.5  # in [-0.5, 0.5)
        lower = 1 + int(np.floor(position))
        weight = np.float32(position - np.floor(position))
        target = out[phase::factor]
        np.multiply(values[lower : lower + n], 1.0 - weight, out=target)
        target += values[lower + 1 : lower + 1 + n] * weight
    return np.moveaxis(out, 0, axis)


def _fbm(
    rng: np.random.Generator,
    shape: tuple[int, int],
    scales_m: tuple[float, ...],
    weights: tuple[float, ...],
    zoom: float = 1.0,
) -> np.ndarray:
    """Smooth multi-scale noise (zero mean, unit std) on the base grid; scales in metres."""
    total = np.zeros(shape, dtype=np.float32)
    for scale, weight in zip(scales_m, weights, strict=True):
        step = max(scale * zoom / BASE_RES / 3.0, 1.0)  # coarse grid spacing, in base pixels
        coarse_shape = (int(shape[0] / step) + 4, int(shape[1] / step) + 4)
        coarse = ndimage.gaussian_filter(
            rng.standard_normal(coarse_shape).astype(np.float32), 1.0, mode="wrap"
        )
        zoomed = ndimage.zoom(coarse, step, order=1, mode="nearest", grid_mode=True)
        layer = zoomed[: shape[0], : shape[1]]
        layer = (layer - layer.mean()) / (layer.std() + 1e-6)
        total += weight * layer
    return (total - total.mean()) / (total.std() + 1e-6)


def _even_out(field: np.ndarray, sigma: float) -> np.ndarray:
    """The field normalised by its local mean and spread (over ``sigma`` pixels), so that clouds
    spread evenly over the scene rather than in one corner."""
    step = max(1, int(sigma // 4))  # smooth on a coarser grid: same result, far faster

    def smooth(values: np.ndarray) -> np.ndarray:
        coarse = ndimage.zoom(values, 1.0 / step, order=1, grid_mode=True, mode="nearest")
        coarse = ndimage.gaussian_filter(coarse, sigma / step, mode="reflect")
        factors = (values.shape[0] / coarse.shape[0], values.shape[1] / coarse.shape[1])
        fine = ndimage.zoom(coarse, factors, order=1, grid_mode=True, mode="nearest")
        return fine[: values.shape[0], : values.shape[1]]

    anomaly = field - smooth(field)
    spread = np.sqrt(smooth(anomaly * anomaly)) + 1e-3
    return (anomaly / spread).astype(np.float32)


def _parcels(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Crop parcels: a random patchwork of rectangles with their own greenness in [0, 1]."""
    rows = np.cumsum(rng.integers(4, 13, size=shape[0]))
    cols = np.cumsum(rng.integers(4, 13, size=shape[1]))
    row_id = np.searchsorted(rows, np.arange(shape[0]), side="right")
    col_id = np.searchsorted(cols, np.arange(shape[1]), side="right")
    values = rng.uniform(0.0, 1.0, size=(row_id[-1] + 1, col_id[-1] + 1)).astype(np.float32)
    return values[row_id[:, None], col_id[None, :]]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, a smooth S in between."""
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)

"""Expected tile pixels computed straight from the mask arrays, without rio-tiler."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from morecantile import Tile, tms
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.warp import transform

from catalog.legend import legend_colormap
from tests.factories import UTM32_ORIGIN

WEB_MERCATOR = tms.get("WebMercatorQuad")


def _read_rgba(content: bytes) -> tuple[str, np.ndarray]:
    """Driver and RGBA pixels of an image (a paletted PNG is expanded through its palette)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(content) as mem, mem.open() as src:
            data = src.read()
            driver = src.driver
            if src.count == 1:
                lut = np.zeros((256, 4), dtype=np.uint8)
                for value, rgba in src.colormap(1).items():
                    lut[value] = rgba
                data = np.moveaxis(lut[data[0]], -1, 0)
    if data.shape[0] == 3:
        data = np.concatenate([data, np.full((1, *data.shape[1:]), 255, np.uint8)])
    return driver, data


def decode_png(content: bytes) -> np.ndarray:
    """A PNG's pixels as RGBA (bands, rows, cols)."""
    driver, data = _read_rgba(content)
    assert driver == "PNG"
    return data


def assert_transparent_tile(response: Any, size: int = 256) -> None:
    """An answer that is a fully transparent PNG tile (where there is no mask to draw)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    rgba = decode_png(response.content)
    assert rgba.shape == (4, size, size)
    assert (rgba[3] == 0).all()


def tile_for(lon: float, lat: float, zoom: int) -> Tile:
    """The WebMercatorQuad tile containing a point."""
    return WEB_MERCATOR.tile(lon, lat, zoom)


def cog_centre() -> tuple[float, float]:
    """Lon/lat of the centre of the test COGs (512 px of 10 m from UTM32_ORIGIN)."""
    x, y = UTM32_ORIGIN[0] + 2560, UTM32_ORIGIN[1] - 2560
    lons, lats = transform("EPSG:32632", "EPSG:4326", [x], [y])
    return lons[0], lats[0]


def source_positions(tile: Tile, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (row, col) in the mask grid of the centre of every pixel of a tile."""
    west, south, east, north = WEB_MERCATOR.xy_bounds(tile)
    step_x, step_y = (east - west) / size, (north - south) / size
    cols, rows = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    xs, ys = west + cols * step_x, north - rows * step_y
    ux, uy = transform("EPSG:3857", "EPSG:32632", xs.ravel().tolist(), ys.ravel().tolist())
    col = (np.array(ux) - UTM32_ORIGIN[0]) / 10.0
    row = (UTM32_ORIGIN[1] - np.array(uy)) / 10.0
    return row.reshape(size, size), col.reshape(size, size)


def sample_classes(layers: list[np.ndarray], row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Classes at fractional grid positions: the first layer with data wins, 0 outside."""
    irow, icol = np.floor(row).astype(int), np.floor(col).astype(int)
    classes = np.zeros(row.shape, dtype=np.uint8)
    for layer in layers:
        inside = (irow >= 0) & (irow < layer.shape[0]) & (icol >= 0) & (icol < layer.shape[1])
        values = np.zeros(row.shape, dtype=np.uint8)
        values[inside] = layer[irow[inside], icol[inside]]
        classes = np.where(classes == 0, values, classes)
    return classes


def certain_classes(
    layers: list[np.ndarray], row: np.ndarray, col: np.ndarray, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """The classes at the positions, and where that answer is certain: the class is the same
    ``margin`` source pixels around each position."""
    classes = sample_classes(layers, row, col)
    certain = np.ones(classes.shape, dtype=bool)
    for dr in (-margin, margin):
        for dc in (-margin, margin):
            certain &= sample_classes(layers, row + dr, col + dc) == classes
    return classes, certain


def expected_classes(
    layers: list[np.ndarray], tile: Tile, size: int = 256, margin: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """The class of every pixel of a tile, and where that answer is certain: the class is the
    same ``margin`` source pixels around the pixel centre (GDAL's warper is exact to ~1/8 px)."""
    row, col = source_positions(tile, size)
    return certain_classes(layers, row, col, margin)


def legend_rgba(classes: np.ndarray) -> np.ndarray:
    """The legend colours of a class array, as (4, rows, cols); no data transparent."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    for value, rgba in legend_colormap().items():
        lut[value] = rgba
    return np.moveaxis(lut[classes], -1, 0)


def rgba_classes(rgba: np.ndarray) -> np.ndarray:
    """Class of every pixel of an RGBA tile (255 where the colour is no legend colour)."""
    out = np.full(rgba.shape[1:], 255, dtype=np.uint8)
    for value, colour in legend_colormap().items():
        hit = np.all(rgba == np.array(colour, dtype=np.uint8)[:, None, None], axis=0)
        out[hit] = value
    out[rgba[3] == 0] = 0
    return out


def class_at(layer: np.ndarray, lon: float, lat: float) -> int:
    """The class of a mask array at a point (0 outside)."""
    xs, ys = transform("EPSG:4326", "EPSG:32632", [lon], [lat])
    row = int(np.floor((UTM32_ORIGIN[1] - ys[0]) / 10.0))
    col = int(np.floor((xs[0] - UTM32_ORIGIN[0]) / 10.0))
    if 0 <= row < layer.shape[0] and 0 <= col < layer.shape[1]:
        return int(layer[row, col])
    return 0


def open_rgba(content: bytes) -> np.ndarray:
    """An image's pixels as RGBA (an opaque alpha added to RGB)."""
    return _read_rgba(content)[1]

"""The class-map tile reader: exact nearest neighbour, overviews, kept-open datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from morecantile import tms

from tests.factories import write_mask_cog
from tests.tiler.conftest import TilerData
from tests.tiler.pixels import cog_centre, expected_classes, tile_for
from tiler.rasters import _warp_tile, open_dataset, overview_level, read_tile

GRID = tms.get("WebMercatorQuad")


def test_read_tile_takes_the_pixel_under_each_centre(tiler_data: TilerData):
    path = str(tiler_data.cogs["a"])
    dataset = open_dataset(path)
    for zoom in (13, 14, 15):
        tile = tile_for(*cog_centre(), zoom)
        classes = read_tile(path, dataset, GRID, tile, (256, 256))
        assert classes is not None
        expected, certain = expected_classes([tiler_data.arrays["a"]], tile)
        assert np.array_equal(classes[certain], expected[certain])
        # GDAL's warper (the fallback for rotated rasters) agrees but for edge pixels
        warped = _warp_tile(path, dataset, GRID, tile, (256, 256), None)
        assert warped is not None and (warped == classes).mean() > 0.99


def test_read_tile_outside_the_raster_is_none(tiler_data: TilerData):
    path = str(tiler_data.cogs["a"])
    far = tile_for(-3.7, 40.4, 12)
    assert read_tile(path, open_dataset(path), GRID, far, (256, 256)) is None


def test_overviews_are_chosen_just_finer_than_the_tile(tmp_path: Path):
    path = tmp_path / "big.tif"
    write_mask_cog(path, 2048, seed=4)  # 10 m, overviews made with mode
    dataset = open_dataset(str(path))
    assert dataset.overviews(1)[:2] == [2, 4]
    assert overview_level(dataset, 9.0) is None
    assert overview_level(dataset, 19.9) is None
    assert overview_level(dataset, 20.0) == 0
    assert overview_level(dataset, 45.0) == 1
    low = tile_for(*cog_centre(), 11)  # about 50 m pixels: the 40 m overview
    classes = read_tile(str(path), dataset, GRID, low, (256, 256))
    assert classes is not None
    overview = open_dataset(str(path), level=1).read(1)
    assert set(np.unique(classes).tolist()) <= set(np.unique(overview).tolist())


def test_datasets_stay_open_until_the_file_changes(tmp_path: Path):
    path = tmp_path / "mask.tif"
    write_mask_cog(path, 256, seed=1)
    first = open_dataset(str(path))
    assert open_dataset(str(path)) is first
    assert open_dataset(str(path), version="other") is not first
    write_mask_cog(path, 256, seed=2)  # republished in place
    again = open_dataset(str(path))
    assert again is not first
    assert again.read(1).tobytes() != first.read(1).tobytes()

"""The class-map tile reader: exact nearest neighbour, overviews, a pool of open datasets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from morecantile import tms
from rasterio.io import DatasetReader

from tests.factories import write_mask_cog
from tests.tiler.conftest import TilerData
from tests.tiler.pixels import cog_centre, expected_classes, tile_for
from tiler.rasters import DATASETS, DatasetPool, _warp_tile, overview_level, read_tile

GRID = tms.get("WebMercatorQuad")


def test_read_tile_takes_the_pixel_under_each_centre(tiler_data: TilerData):
    path = str(tiler_data.cogs["a"])
    with DATASETS.borrow(path) as dataset:
        _check_tiles(path, dataset, tiler_data)


def _check_tiles(path: str, dataset: DatasetReader, tiler_data: TilerData) -> None:
    for zoom in (13, 14, 15):
        tile = tile_for(*cog_centre(), zoom)
        classes = read_tile(path, dataset, GRID, tile, (256, 256))
        assert classes is not None
        expected, certain = expected_classes([tiler_data.arrays["a"]], tile)
        assert certain.mean() > 0.8 and len(np.unique(expected[certain])) > 1
        assert np.array_equal(classes[certain], expected[certain])
        # GDAL's warper (the fallback for rotated rasters) agrees but for edge pixels
        warped = _warp_tile(path, dataset, GRID, tile, (256, 256), None)
        assert warped is not None and (warped == classes).mean() > 0.99


def test_read_tile_outside_the_raster_is_none(tiler_data: TilerData):
    path = str(tiler_data.cogs["a"])
    far = tile_for(-3.7, 40.4, 12)
    with DATASETS.borrow(path) as dataset:
        assert read_tile(path, dataset, GRID, far, (256, 256)) is None


def test_overviews_are_chosen_just_finer_than_the_tile(tmp_path: Path):
    path = tmp_path / "big.tif"
    write_mask_cog(path, 2048, seed=4)  # 10 m, overviews made with mode
    with DATASETS.borrow(str(path)) as dataset, DATASETS.borrow(str(path), level=1) as level1:
        _check_overviews(str(path), dataset, level1.read(1))


def _check_overviews(path: str, dataset: DatasetReader, overview: np.ndarray) -> None:
    assert dataset.overviews(1)[:2] == [2, 4]
    assert overview_level(dataset, 9.0) is None
    assert overview_level(dataset, 19.9) is None
    assert overview_level(dataset, 20.0) == 0
    assert overview_level(dataset, 45.0) == 1
    low = tile_for(*cog_centre(), 11)  # about 50 m pixels: the 40 m overview
    classes = read_tile(path, dataset, GRID, low, (256, 256))
    assert classes is not None
    assert set(np.unique(classes).tolist()) <= set(np.unique(overview).tolist())


def test_datasets_are_reused_until_the_file_changes(tmp_path: Path):
    path = str(tmp_path / "mask.tif")
    write_mask_cog(Path(path), 256, seed=1)
    pool = DatasetPool()
    with pool.borrow(path) as first:
        pass
    with pool.borrow(path) as again:
        assert again is first  # given back, borrowed again: no second open
    with pool.borrow(path, version="other") as other:
        assert other is not first
    write_mask_cog(Path(path), 256, seed=2)  # republished in place
    with pool.borrow(path) as fresh:
        assert fresh is not first
        assert fresh.read(1).tobytes() != first.read(1).tobytes()


def test_a_borrowed_dataset_is_never_shared(tmp_path: Path):
    path = str(tmp_path / "mask.tif")
    write_mask_cog(Path(path), 256, seed=1)
    pool = DatasetPool()
    with pool.borrow(path) as one, pool.borrow(path) as two:
        assert one is not two  # two readers at once, two handles
    assert pool.idle() == 2
    with pool.borrow(path) as three:
        assert three in (one, two)


def test_idle_datasets_beyond_the_limit_are_closed(tmp_path: Path):
    pool = DatasetPool(max_idle=2)
    handles = []
    for seed in range(3):
        path = tmp_path / f"mask{seed}.tif"
        write_mask_cog(path, 256, seed=seed)
        with pool.borrow(str(path)) as dataset:
            handles.append(dataset)
    assert pool.idle() == 2
    assert handles[0].closed  # least recently used first
    assert not handles[1].closed and not handles[2].closed


def test_many_threads_read_tiles_through_the_pool(tiler_data: TilerData):
    path = str(tiler_data.cogs["a"])
    pool = DatasetPool()
    tile = tile_for(*cog_centre(), 14)
    with pool.borrow(path) as dataset:
        expected = read_tile(path, dataset, GRID, tile, (256, 256))

    def read(_: int) -> bytes:
        with pool.borrow(path) as dataset:
            classes = read_tile(path, dataset, GRID, tile, (256, 256))
        assert classes is not None
        return classes.tobytes()

    with ThreadPoolExecutor(8) as threads:
        results = set(threads.map(read, range(64)))
    assert expected is not None and results == {expected.tobytes()}
    assert pool.idle() <= 8

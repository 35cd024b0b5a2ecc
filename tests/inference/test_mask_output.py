"""The mask COG of a generated product: validity, legend, statistics, agreement with truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from catalog.legend import legend_colormap
from inference import InferenceSettings, MaskResult, run_mask
from inference.sample import SampleProduct
from kappacat.cli import app


@pytest.fixture(scope="module")
def l1c_mask(sample_l1c: SampleProduct, tmp_path_factory: pytest.TempPathFactory) -> MaskResult:
    settings = InferenceSettings(threads=2, _env_file=None)
    progress: list[tuple[int, int]] = []
    out = tmp_path_factory.mktemp("mask") / "mask.tif"
    result = run_mask(
        sample_l1c.path, out, settings=settings, progress=lambda d, t: progress.append((d, t))
    )
    assert progress[-1][0] == progress[-1][1]  # progress reached the end
    assert [d / t for d, t in progress] == sorted(d / t for d, t in progress)
    return result


def three_classes(values: np.ndarray) -> np.ndarray:
    """Clear (1), cloud shadow (2), cloud (semi-transparent and opaque: 4); others 0."""
    return np.select([values == 1, values == 2, (values == 3) | (values == 4)], [1, 2, 4], 0)


def test_mask_is_a_valid_cog_with_the_legend(l1c_mask: MaskResult) -> None:
    valid, errors, warnings = cog_validate(str(l1c_mask.path))
    assert valid, errors
    assert not warnings
    with rasterio.open(l1c_mask.path) as cog:
        assert (cog.count, cog.dtypes[0], cog.nodata) == (1, "uint8", 0)
        assert cog.res == (10.0, 10.0) and cog.crs.to_epsg() == l1c_mask.product.epsg
        assert cog.block_shapes == [(512, 512)]
        assert cog.compression is not None and cog.compression.name == "zstd"  # the default
        # class runs compress better without the horizontal predictor
        assert cog.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR", "1") == "1"
        assert cog.overviews(1) == [2, 4]
        assert cog.tags()["OVERVIEW_RESAMPLING"] == "MODE"
        colormap = cog.colormap(1)
        assert sorted(legend_colormap()) == [0, 1, 2, 3, 4, 5]
        assert {value: colormap[value] for value in range(6)} == legend_colormap()
        assert colormap[4] == (255, 255, 255, 255) and colormap[0][3] == 0  # no data see-through
        tags = cog.tags()
        assert tags["PRODUCT_ID"] == l1c_mask.product.id
        assert tags["MODEL_ID"] == l1c_mask.model_id == "ukis-csmask-6b-l1c"
        assert "cloud_shadow" in tags["CLASS_2"] and '"value": 5' in tags["LEGEND"]
        overview = cog.read(1, out_shape=(cog.height // 4, cog.width // 4))
        assert set(np.unique(overview)) <= {0, 1, 2, 3, 4, 5}


def test_class_counts_match_the_cog(l1c_mask: MaskResult) -> None:
    with rasterio.open(l1c_mask.path) as cog:
        values = cog.read(1)
    counts = np.bincount(values.ravel(), minlength=6)
    assert l1c_mask.class_counts == {v: int(counts[v]) for v in range(6)}
    assert sum(l1c_mask.class_percentages.values()) == pytest.approx(100.0)
    clouds = counts[3] + counts[4]
    assert l1c_mask.cloud_cover == pytest.approx(100 * clouds / counts[1:5].sum())
    assert l1c_mask.timings["total"] > 0 and l1c_mask.model_card["id"] == l1c_mask.model_id


def test_mask_agrees_with_the_generated_truth(
    l1c_mask: MaskResult, sample_l1c: SampleProduct
) -> None:
    with rasterio.open(l1c_mask.path) as cog, rasterio.open(sample_l1c.truth_path) as truth_file:
        mask, truth = cog.read(1), truth_file.read(1)
    assert ((mask == 0) == (truth == 0)).mean() > 0.995  # outside the footprint: no data
    both = (mask >= 1) & (mask <= 4) & (truth >= 1) & (truth <= 4)
    agreement = (three_classes(mask)[both] == three_classes(truth)[both]).mean()
    assert agreement >= 0.75, f"3-class agreement {agreement:.3f}"
    for value in (1, 2, 4):  # each class is found where the truth has it
        truth_class = three_classes(truth)[both] == value
        recall = (three_classes(mask)[both][truth_class] == value).mean()
        assert recall > 0.5, f"class {value}: recall {recall:.2f}"


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_thumbnail_beside_the_mask(l1c_mask: MaskResult) -> None:
    assert l1c_mask.thumbnail_path is not None
    assert l1c_mask.thumbnail_path.parent == l1c_mask.path.parent
    with rasterio.open(l1c_mask.thumbnail_path) as png:
        assert png.driver == "PNG" and png.count == 4 and max(png.width, png.height) <= 256
        rgba = png.read()
    assert (rgba[3] == 0).any() and (rgba[3] == 255).any()  # transparent no data, opaque classes
    leftovers = [p for p in l1c_mask.path.parent.iterdir() if ".part" in p.name]
    assert not leftovers


def test_command_on_a_stac_item(sample_stac: SampleProduct, tmp_path: Path) -> None:
    out = tmp_path / "stac-mask.tif"
    result = CliRunner().invoke(app, ["mask", str(sample_stac.path), str(out), "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert "cloud_shadow" in result.output and "eo:cloud_cover" in result.output
    assert cog_validate(str(out))[0]
    with rasterio.open(out) as cog, rasterio.open(sample_stac.truth_path) as truth_file:
        mask, truth = cog.read(1), truth_file.read(1)
    both = (mask >= 1) & (mask <= 4) & (truth >= 1) & (truth <= 4)
    assert (three_classes(mask)[both] == three_classes(truth)[both]).mean() >= 0.75


def test_l2a_product_uses_the_l2a_card(sample_l2a: SampleProduct, tmp_path: Path) -> None:
    settings = InferenceSettings(threads=2, _env_file=None)
    result = run_mask(sample_l2a.path, tmp_path / "l2a.tif", settings=settings)
    assert result.model_id == "ukis-csmask-6b-l2a"
    with rasterio.open(result.path) as cog, rasterio.open(sample_l2a.truth_path) as truth_file:
        mask, truth = cog.read(1), truth_file.read(1)
    both = (mask >= 1) & (mask <= 4) & (truth >= 1) & (truth <= 4)
    assert (three_classes(mask)[both] == three_classes(truth)[both]).mean() >= 0.75

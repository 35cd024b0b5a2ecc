"""Accuracy of the default L1C card on real labelled data: through the engine's tiling, and
through the whole reader behind a real provider item."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from catalog.legend import CLEAR, CLOUD, CLOUD_SHADOW
from inference import InferenceSettings, default_card, run_mask
from inference.session import ModelSession
from inference.tiling import TiledPredictor, predict_array
from tests.inference.providers import PROVIDERS, window, write_raster


def cohen_kappa(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Cohen's kappa of two label arrays."""
    labels = np.union1d(truth, predicted)
    t = np.searchsorted(labels, truth.ravel())
    p = np.searchsorted(labels, predicted.ravel())
    confusion = np.zeros((len(labels), len(labels)), dtype=np.float64)
    np.add.at(confusion, (t, p), 1)
    n = confusion.sum()
    observed = np.trace(confusion) / n
    expected = (confusion.sum(axis=0) * confusion.sum(axis=1)).sum() / n**2
    return float((observed - expected) / (1 - expected))


@pytest.fixture(scope="module")
def labelled(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """Reflectance (bands, rows, cols) and the reference mask in legend values."""
    data = np.load(shared_data / "labelled" / "ukis_sentinel2_512x512_30m.npz")
    image = np.moveaxis(data["img"], -1, 0).astype(np.float32)  # blue green red nir swir16 swir22
    labels = data["msk"][..., 0]
    truth = np.select([labels == 0, labels == 4], [CLOUD_SHADOW, CLOUD], CLEAR)
    return image, truth.astype(np.uint8)


@pytest.fixture(scope="module")
def session(settings_module: InferenceSettings) -> ModelSession:
    return ModelSession(default_card("L1C", settings_module), settings_module)


@pytest.fixture(scope="module")
def settings_module() -> InferenceSettings:
    return InferenceSettings(threads=2, _env_file=None)


def test_default_l1c_card_reaches_kappa_080(
    labelled: tuple[np.ndarray, np.ndarray], session: ModelSession
) -> None:
    image, truth = labelled
    card = session.card
    assert card.bands == ["B02", "B03", "B04", "B08", "B11", "B12"]  # the npz band order
    predictor = TiledPredictor(card, session.predict, max_rows=1024, prefetch=False)
    probs, valid = predict_array(predictor, image)
    assert valid.all()
    predicted = np.asarray(card.legend_values, dtype=np.uint8)[probs.argmax(axis=0)]
    kappa = cohen_kappa(truth, predicted)
    assert kappa >= 0.80, f"Cohen's kappa {kappa:.3f} < 0.80"
    assert (predicted == truth).mean() >= 0.88


def test_no_seams_at_window_borders(
    labelled: tuple[np.ndarray, np.ndarray], session: ModelSession
) -> None:
    image, _ = labelled
    card = session.card
    one_window = TiledPredictor(card, session.predict, max_rows=2048)
    windows = TiledPredictor(card, session.predict, max_rows=card.tile_size + 60, prefetch=True)
    rows = image.shape[1]
    assert len(one_window.groups(rows)) == 1 and len(windows.groups(rows)) >= 2  # borders exist
    whole, _ = predict_array(one_window, image)
    windowed, _ = predict_array(windows, image)
    np.testing.assert_allclose(windowed, whole, atol=1e-6)


def test_through_a_real_earth_search_l1c_item_kappa_stays_080(
    labelled: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    """The labelled reflectance stored as Earth Search's sentinel-2-l1c stores it: ESA's
    lossless JPEG 2000 with the -1000 offset of its baseline 05.11, behind the real item,
    masked by ``run_mask`` as a user runs it.

    Each 30 m pixel becomes 3 x 3 pixels of 10 m. The 20 m bands are written at 10 m too (a
    30 m pixel has no exact 20 m version); the reader resamples either to the model's 30 m.
    The files have a single resolution level: through JPEG 2000's 20 m level, whose pixels
    straddle these blocky 30 m pixels, each would take a sixth of its neighbour's value (kappa
    0.799), which real 10 m data does not suffer. The labelled scene has no B10, so the card's
    thin-cirrus rule is taken out.
    """
    image, truth = labelled
    item = json.loads((PROVIDERS / "earth-search-l1c.json").read_text())
    size = image.shape[1] * 3
    epsg, x0, y0 = window(item, size)
    keys = {"blue": 0, "green": 1, "red": 2, "nir": 3, "swir16": 4, "swir22": 5}
    for key, index in keys.items():
        dn = np.rint(image[index] * 10000.0) + 1000.0  # the offset of baseline 04.00 and later
        values = np.kron(np.clip(dn, 1, 65535), np.ones((3, 3))).astype(np.uint16)
        path = tmp_path / f"{key}.jp2"
        write_raster(path, values, epsg, x0, y0, 10, "JP2", levels=1)
        item["assets"][key]["href"] = str(path)
    source = tmp_path / "item.json"
    source.write_text(json.dumps(item))
    card = default_card("L1C").model_copy(update={"semi_transparent_cloud": None})
    settings = InferenceSettings(threads=2, _env_file=None)
    result = run_mask(source, tmp_path / "mask.tif", card=card, settings=settings)
    assert result.product.extra["provider"] == "earth-search-l1c"
    with rasterio.open(result.path) as cog:
        predicted = cog.read(1)[1::3, 1::3]  # the 10 m pixel at the centre of each 30 m one
    assert set(np.unique(predicted)) <= {CLEAR, CLOUD_SHADOW, CLOUD}
    kappa = cohen_kappa(truth, predicted)
    assert kappa >= 0.80, f"Cohen's kappa {kappa:.3f} < 0.80 through the Earth Search item"

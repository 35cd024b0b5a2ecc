"""Accuracy of the default L1C card through the engine's tiling, on real labelled data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference import InferenceSettings, default_card
from inference.session import ModelSession
from inference.tiling import TiledPredictor, predict_array
from kappacat.legend import CLEAR, CLOUD, CLOUD_SHADOW


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
    whole, _ = predict_array(TiledPredictor(card, session.predict, max_rows=2048), image)
    windowed, _ = predict_array(
        TiledPredictor(card, session.predict, max_rows=card.tile_size + 60, prefetch=True), image
    )
    np.testing.assert_allclose(windowed, whole, atol=1e-6)

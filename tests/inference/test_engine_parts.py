"""The engine's building blocks: resampling weights, tile plan, upsampling, settings, sessions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from catalog.legend import MISSING
from inference import InferenceError, InferenceSettings
from inference.grid import axis_weights
from inference.session import resolve_providers
from inference.tiling import TilePlan
from inference.upsample import ClassUpsampler


def test_area_weights_average_what_they_cover() -> None:
    weights = axis_weights(np.arange(2), 30.0, 3, 20.0).toarray()  # 20 m -> 30 m
    np.testing.assert_allclose(weights, [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]], atol=1e-6)
    up = axis_weights(np.arange(6), 10.0, 2, 30.0).toarray()  # 30 m -> 10 m, bilinear, clamped
    np.testing.assert_allclose(up[:, 0], [1, 1, 2 / 3, 1 / 3, 0, 0], atol=1e-6)
    assert np.allclose(up.sum(axis=1), 1)


@pytest.mark.parametrize("n", [1, 100, 154, 366, 512, 3660])
def test_tile_plan_covers_every_pixel_with_full_weight_margins(n: int) -> None:
    plan = TilePlan(256, 51)
    starts = plan.starts(n)
    assert starts[0] <= -25 and starts[-1] + 256 >= n + 25  # margins of half the overlap
    assert all(b - a == 205 for a, b in itertools.pairwise(starts))
    coverage = np.zeros(n)
    for start in starts:
        lo, hi = max(start, 0), min(start + 256, n)
        coverage[lo:hi] += plan.weights[128, lo - start : hi - start]
    assert coverage.min() > 0.8  # no pixel relies on the fading edge of a tile alone
    assert plan.weights.max() == pytest.approx(1.0)


def _bilinear_reference(probs: np.ndarray, valid: np.ndarray, ratio: int) -> np.ndarray:
    n = probs.shape[1]
    u = (np.arange(n * ratio) + 0.5) / ratio - 0.5
    j0 = np.floor(u)
    t = u - j0
    lo, hi = np.clip(j0, 0, n - 1).astype(int), np.clip(j0 + 1, 0, n - 1).astype(int)
    rows = probs[:, lo] * (1 - t)[None, :, None] + probs[:, hi] * t[None, :, None]
    full = rows[:, :, lo] * (1 - t) + rows[:, :, hi] * t
    classes = np.array([1, 4, 2], dtype=np.uint8)[full.argmax(0)]
    nearest = np.clip(np.floor(u + 0.5), 0, n - 1).astype(int)
    classes[~valid[nearest][:, nearest]] = MISSING
    return classes


def test_upsampling_interpolates_probabilities_in_any_row_blocks() -> None:
    rng = np.random.default_rng(0)
    coarse = rng.random((3, 12, 12))
    probs = np.stack([np.kron(c, np.ones((5, 5))) for c in coarse])[:, :57, :57]
    probs += rng.random(probs.shape) * 0.05
    probs = probs.astype(np.float32)
    valid = np.ones((57, 57), dtype=bool)
    valid[:9, :13] = False
    expected = _bilinear_reference(probs, valid, 3)
    for blocks in ([(0, 57)], [(0, 1), (1, 2), (2, 30), (30, 57)]):
        out = np.zeros((171, 171), dtype=np.uint8)

        def sink(row0: int, rows: np.ndarray, out: np.ndarray = out) -> None:
            out[row0 : row0 + rows.shape[0]] = rows

        upsampler = ClassUpsampler((57, 57), (171, 171), 3.0, [1, 4, 2], sink, chunk_rows=16)
        for a, b in blocks:
            upsampler.push(probs[:, a:b], valid[a:b])
        upsampler.finish()
        np.testing.assert_array_equal(out, expected)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPPACAT_INFERENCE_THREADS", "3")
    monkeypatch.setenv("KAPPACAT_INFERENCE_BATCH_SIZE", "8")
    monkeypatch.setenv("KAPPACAT_INFERENCE_COMPRESSION", "DEFLATE")
    settings = InferenceSettings(_env_file=None)
    assert (settings.threads, settings.batch_size, settings.compression) == (3, 8, "DEFLATE")
    assert settings.providers == "auto"


def test_providers() -> None:
    assert resolve_providers("auto")[-1] == "CPUExecutionProvider"
    assert resolve_providers("CPUExecutionProvider") == ["CPUExecutionProvider"]
    with pytest.raises(InferenceError, match="not available"):
        resolve_providers("NoSuchExecutionProvider")


def test_every_setting_is_documented() -> None:
    for name, field in InferenceSettings.model_fields.items():
        assert field.description, f"KAPPACAT_INFERENCE_{name.upper()} has no description"

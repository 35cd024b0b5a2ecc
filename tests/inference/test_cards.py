"""Model cards: the shipped ukis cards, validation, and a KappaMask-style card with its own ONNX."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import onnx
import pytest
import rasterio
from onnx import TensorProto, helper
from rio_cogeo.cogeo import cog_validate

from inference import InferenceSettings, ModelCard, default_card, load_card, open_product, run_mask
from inference.errors import ModelCardError
from inference.sample import SampleProduct
from inference.session import ModelSession

EXAMPLE = Path(__file__).resolve().parents[2] / "inference" / "cards" / "kappamask-l1c.example.yaml"
CLOUD_B02 = 0.3  # the tiny model calls a pixel cloud when its B02 reflectance is above this


def tiny_kappamask_onnx(path: Path, card: ModelCard, channels: int = 13) -> Path:
    """A 1x1-convolution stand-in for a KappaMask export: NHWC in, 6-class softmax out (NHWC).

    Channel 4 (cloud) wins where the normalised B02 exceeds CLOUD_B02, channel 1 (clear) elsewhere.
    """
    assert card.normalisation.max is not None
    b02 = card.bands.index("B02")
    threshold = CLOUD_B02 * 10000 / card.normalisation.max[b02]  # normalised input at 0.3
    weights = np.zeros((6, channels, 1, 1), dtype=np.float32)
    bias = np.full(6, -50.0, dtype=np.float32)
    bias[1] = 0.0
    weights[4, b02, 0, 0] = 200.0
    bias[4] = -200.0 * threshold
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["nchw", "w", "b"], ["logits"]),
            helper.make_node("Transpose", ["logits"], ["nhwc"], perm=[0, 2, 3, 1]),
            helper.make_node("Softmax", ["nhwc"], ["output"], axis=-1),
        ],
        "tiny_kappamask",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 512, 512, channels])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 512, 512, 6])],
        [
            helper.make_tensor("w", TensorProto.FLOAT, weights.shape, weights.ravel()),
            helper.make_tensor("b", TensorProto.FLOAT, bias.shape, bias),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture
def kappamask_card(tmp_path: Path) -> ModelCard:
    """The example KappaMask card copied beside a generated ONNX file it names relatively."""
    card_path = tmp_path / "kappamask-l1c.yaml"
    shutil.copy(EXAMPLE, card_path)
    card = load_card(card_path)
    tiny_kappamask_onnx(tmp_path / card.onnx, card)
    return load_card(card_path)


@pytest.mark.parametrize("level", ["L1C", "L2A"])
def test_default_cards_use_the_packaged_ukis_models(level: str) -> None:
    card = default_card(level)
    assert card.onnx == f"package:ukis_csmask/model_6b_{level.lower()}.onnx"
    assert (card.resolution, card.tile_size, card.overlap, card.levels) == (30, 256, 0.2, [level])
    assert {c.name: c.legend for c in card.classes} == {"clear": 1, "cloud": 4, "cloud_shadow": 2}
    stats = json.loads(
        resources.files("ukis_csmask").joinpath(f"model_6b_{level.lower()}.json").read_text()
    )
    mean, std = stats["data"]["dataset_statistics"]["img"]
    assert card.normalisation.mean == mean and card.normalisation.std == std
    with card.onnx_file() as path:
        assert path.is_file() and "ukis_csmask" in str(path)


def test_settings_choose_the_default_card(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPPACAT_INFERENCE_DEFAULT_CARD_L1C", "ukis-csmask-6b-l2a")
    assert default_card("L1C", InferenceSettings(_env_file=None)).id == "ukis-csmask-6b-l2a"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"bands": ["B02", "B99"]}, "unknown Sentinel-2 band"),
        ({"normalisation": {"method": "standardise", "mean": [0.1], "std": [1.0]}}, "mean has 1"),
        ({"classes": [{"index": 0, "name": "x", "legend": 0}]}, "legend value 0"),
        ({"classes": [{"index": 1, "name": "x", "legend": 1}]}, "indexes 0..n-1"),
        ({"overlap": 0.7}, "overlap"),
    ],
)
def test_invalid_cards_are_refused(tmp_path: Path, change: dict[str, object], message: str) -> None:
    import yaml

    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelCardError, match=message):
        load_card(path)


def test_unknown_card_and_missing_onnx(tmp_path: Path) -> None:
    with pytest.raises(ModelCardError, match="no such card"):
        load_card("no-such-card")
    card = load_card(EXAMPLE).model_copy(update={"onnx": str(tmp_path / "absent.onnx")})
    with pytest.raises(ModelCardError, match="ONNX file not found"):
        ModelSession(card)


def test_card_and_model_must_agree(kappamask_card: ModelCard, tmp_path: Path) -> None:
    wrong = tiny_kappamask_onnx(tmp_path / "wrong.onnx", kappamask_card, channels=12)
    with pytest.raises(ModelCardError, match="12 channels"):
        ModelSession(kappamask_card.model_copy(update={"onnx": str(wrong)}))


def test_card_must_accept_the_level(
    sample_l1c: SampleProduct, tmp_path: Path, settings: InferenceSettings
) -> None:
    with pytest.raises(ModelCardError, match="accepts L2A products"):
        run_mask(sample_l1c.path, tmp_path / "m.tif", card=default_card("L2A"), settings=settings)
    assert list(tmp_path.iterdir()) == []


def test_kappamask_style_card_runs_a_supplied_model(
    kappamask_card: ModelCard,
    sample_l1c: SampleProduct,
    tmp_path: Path,
    settings: InferenceSettings,
) -> None:
    assert (kappamask_card.resolution, kappamask_card.tile_size) == (10, 512)
    assert len(kappamask_card.bands) == 13 and len(kappamask_card.classes) == 6
    result = run_mask(sample_l1c.path, tmp_path / "km.tif", card=kappamask_card, settings=settings)
    assert result.model_id == "kappamask-l1c" and cog_validate(str(result.path))[0]
    with rasterio.open(result.path) as cog:
        mask = cog.read(1)
    with open_product(sample_l1c.path) as product:
        b02, valid = product.read(["B02"], 0, product.grid.height, resolution=10)
    inside = mask > 0
    expected = np.where(b02[0] > CLOUD_B02, 4, 1)
    compare = inside & valid
    assert compare.mean() > 0.5
    assert (mask[compare] == expected[compare]).mean() > 0.999
    assert set(np.unique(mask[inside & ~valid])) <= {5}

"""Semi-transparent cloud (class 3) from thin-cirrus evidence, for models without the class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from catalog.legend import CLEAR, SEMI_TRANSPARENT_CLOUD
from catalog.properties import SEMI_TRANSPARENT_RULE
from inference import InferenceSettings, ModelCard, default_card, load_card, open_product, run_mask
from inference.card import ThinCirrusB10
from inference.errors import ModelCardError
from inference.sample import SampleProduct
from inference.sample.context import ProductContext, check_spec
from inference.sample.scene import CIRRUS_LEVEL, SHADOW_LEVEL, THIN_ALPHA, Scene
from ingest.items import build_mask_item
from tests.inference.test_cards import EXAMPLE


def _without_rule(card: ModelCard) -> ModelCard:
    return card.model_copy(update={"semi_transparent_cloud": None})


def _mask(source: Path, out: Path, card: ModelCard) -> tuple[np.ndarray, dict[str, object]]:
    settings = InferenceSettings(threads=2, read_threads=2, _env_file=None)
    result = run_mask(source, out, card=card, settings=settings)
    with rasterio.open(out) as cog:
        return cog.read(1), {"rule": result.extra["semi_transparent_rule"], "result": result}


def _scene(sample: SampleProduct, size: int, seed: int, level: str, baseline: str) -> Scene:
    """The generator's own fields of a sample product (where it drew the cirrus)."""
    spec = check_spec(
        size=size, level=level, baseline=baseline, seed=seed, day=None, tile="32UQD", fmt="safe"
    )
    ctx = ProductContext.create(spec)
    assert ctx.product_id == sample.product_id
    return Scene(size, seed, ctx.acq.sun_zenith, ctx.acq.sun_azimuth, level)


@pytest.fixture(scope="module")
def l1c_masks(
    sample_l1c: SampleProduct, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[np.ndarray, dict[str, object]]]:
    """The L1C sample's mask with the default card, and with the card's rule taken out."""
    out = tmp_path_factory.mktemp("semi")
    card = default_card("L1C")
    return {
        "rule": _mask(sample_l1c.path, out / "rule.tif", card),
        "model": _mask(sample_l1c.path, out / "model.tif", _without_rule(card)),
    }


def test_thin_cirrus_over_clear_land_becomes_semi_transparent_cloud(
    sample_l1c: SampleProduct, l1c_masks: dict[str, tuple[np.ndarray, dict[str, object]]]
) -> None:
    mask, run = l1c_masks["rule"]
    assert run["rule"] == "b10-thin-cirrus"
    size = mask.shape[0]
    scene = _scene(sample_l1c, size, 1, "L1C", "05.09")
    alpha = scene.upsample(scene.alpha, 10, 0, size)
    shadow = scene.upsample(scene.shadow, 10, 0, size)
    cirrus = scene.upsample(scene.cirrus, 10, 0, size)
    clear_land = (alpha < THIN_ALPHA) & (shadow < SHADOW_LEVEL) & scene.valid(10, 0, size)
    under_cirrus = clear_land & (cirrus >= CIRRUS_LEVEL)
    elsewhere = clear_land & (cirrus < 0.05)  # clear land well away from any cirrus
    assert under_cirrus.sum() > 20_000 and elsewhere.sum() > 200_000  # a real test of both
    found = float((mask[under_cirrus] == SEMI_TRANSPARENT_CLOUD).mean())
    false = float((mask[elsewhere] == SEMI_TRANSPARENT_CLOUD).mean())
    assert found >= 0.80, f"{100 * found:.1f} % of the thin cirrus over clear land is class 3"
    assert false < 0.02, f"{100 * false:.2f} % of the clear land elsewhere is class 3"


def test_only_clear_pixels_with_b10_evidence_change(
    sample_l1c: SampleProduct, l1c_masks: dict[str, tuple[np.ndarray, dict[str, object]]]
) -> None:
    """Cloud and shadow stay as the model says; a clear pixel becomes class 3 exactly where
    B10 (read at its own 60 m) lies in Sen2Cor's thin-cirrus range with blue below 0.5."""
    with_rule, _ = l1c_masks["rule"]
    model, run = l1c_masks["model"]
    assert run["rule"] == "none" and SEMI_TRANSPARENT_CLOUD not in model
    rule = ThinCirrusB10()
    with open_product(sample_l1c.path) as product:
        assert product.band_file("B10", rule.resolution).resolution == 60
        (b10, blue), ok = product.read(["B10", "B02"], 0, product.grid.height // 6, 60)
    evidence = ok & (b10 >= rule.min) & (b10 <= rule.max) & (blue < rule.blue_max)
    at_10m = np.kron(evidence, np.ones((6, 6), dtype=bool))[: model.shape[0], : model.shape[1]]
    expected = np.where((model == CLEAR) & at_10m, SEMI_TRANSPARENT_CLOUD, model)
    assert np.array_equal(with_rule, expected)
    assert 0.02 < (with_rule == SEMI_TRANSPARENT_CLOUD).mean() < 0.3


def test_l2a_class_3_comes_from_the_scene_classification(
    sample_l2a: SampleProduct, tmp_path: Path
) -> None:
    card = default_card("L2A")
    with_rule, run = _mask(sample_l2a.path, tmp_path / "rule.tif", card)
    model, _ = _mask(sample_l2a.path, tmp_path / "model.tif", _without_rule(card))
    assert run["rule"] == "scl-thin-cirrus"
    with open_product(sample_l2a.path) as product:
        scl_file = product.band_file("SCL", 20)
        assert scl_file.path.endswith("_SCL_20m.jp2")  # not the 60 m one
        with rasterio.open(scl_file.path) as src:
            scl = src.read(1)
    thin_cirrus = np.kron(scl == 10, np.ones((2, 2), dtype=bool))
    expected = np.where((model == CLEAR) & thin_cirrus, SEMI_TRANSPARENT_CLOUD, model)
    assert np.array_equal(with_rule, expected)
    assert (with_rule == SEMI_TRANSPARENT_CLOUD).mean() > 0.005


def test_the_item_records_the_rule_and_a_class_3_share(
    l1c_masks: dict[str, tuple[np.ndarray, dict[str, object]]],
) -> None:
    _, run = l1c_masks["rule"]
    item = build_mask_item(run["result"], "mask.tif")  # type: ignore[arg-type]
    assert item.properties[SEMI_TRANSPARENT_RULE] == "b10-thin-cirrus"
    share = item.properties["kappacat:semi_transparent_cloud_percentage"]
    assert share > 1.0
    classes = {c["value"]: c for c in item.assets["mask"].extra_fields["classification:classes"]}
    assert classes[3]["count"] > 0


def test_a_model_with_its_own_class_3_gets_no_rule(tmp_path: Path) -> None:
    card = load_card(EXAMPLE)
    assert card.has_semi_transparent_class and card.semi_transparent_cloud is None
    data = yaml.safe_load(EXAMPLE.read_text())
    data["semi_transparent_cloud"] = {"l1c": {"min": 0.012, "max": 0.035}}
    path = tmp_path / "both.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelCardError, match="its own semi-transparent cloud class"):
        load_card(path)


def test_the_kappamask_card_says_the_model_made_class_3(
    sample_l1c: SampleProduct, tmp_path: Path
) -> None:
    from tests.inference.test_cards import tiny_kappamask_onnx

    card_path = tmp_path / "kappamask-l1c.yaml"
    card_path.write_text(EXAMPLE.read_text())
    card = load_card(card_path)
    tiny_kappamask_onnx(tmp_path / card.onnx, card)
    _, run = _mask(sample_l1c.path, tmp_path / "km.tif", load_card(card_path))
    assert run["rule"] == "model"


def test_thresholds_come_from_the_card(sample_l1c: SampleProduct, tmp_path: Path) -> None:
    card = default_card("L1C")
    assert card.semi_transparent_cloud is not None
    narrow = card.semi_transparent_cloud.model_copy(
        update={"l1c": ThinCirrusB10(min=0.5, max=0.6)}  # no B10 is that bright here
    )
    mask, run = _mask(
        sample_l1c.path,
        tmp_path / "m.tif",
        card.model_copy(update={"semi_transparent_cloud": narrow}),
    )
    assert run["rule"] == "b10-thin-cirrus" and SEMI_TRANSPARENT_CLOUD not in mask

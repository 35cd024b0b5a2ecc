"""Collections and mask items follow DESIGN.md's conventions and validate offline."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import pytest

from catalog.collections import L1C, L2A, collection_dicts
from catalog.legend import LEGEND
from catalog.properties import percentage_property
from catalog.stac_validation import StacValidator
from tests.factories import mask_item


def test_collections_validate_against_core_and_every_extension(validator: StacValidator) -> None:
    collections = collection_dicts()
    assert [c["id"] for c in collections] == [L1C, L2A]
    for c in collections:
        assert validator.errors(c) == []
        assert c["license"] == "CC-BY-4.0"
        names = {p["name"] for p in c["providers"]}
        assert {"KappaCat", "European Space Agency"} <= names
        legend = c["item_assets"]["mask"]["classification:classes"]
        assert [(x["value"], x["name"]) for x in legend] == [(k.value, k.name) for k in LEGEND]
        render = c["renders"]["mask"]
        assert render["resampling"] == "nearest"
        assert render["colormap"]["4"] == [255, 255, 255, 255]
        assert render["colormap"]["0"][3] == 0  # no data transparent


def test_mask_item_carries_counts_checksum_and_source(
    mask_cog: tuple[Path, np.ndarray], validator: StacValidator
) -> None:
    cog, data = mask_cog
    item = mask_item(cog, data, 0)
    assert validator.errors(item) == []

    mask = item["assets"]["mask"]
    counts = {c["value"]: c["count"] for c in mask["classification:classes"]}
    for value in range(6):
        assert counts[value] == int((data == value).sum())
    assert mask["file:size"] == cog.stat().st_size
    # a multihash: 0x12 (SHA-256), 0x20 (32 bytes), then the digest of the file's bytes
    assert mask["file:checksum"] == "1220" + hashlib.sha256(cog.read_bytes()).hexdigest()
    assert mask["proj:code"] == "EPSG:32632"
    assert mask["proj:epsg"] == 32632  # what stackstac reads
    assert (
        "https://stac-extensions.github.io/projection/v1.2.0/schema.json"
        in (item["stac_extensions"])
    )
    assert mask["proj:shape"] == list(data.shape)

    props = item["properties"]
    valid = np.isin(data, [1, 2, 3, 4]).sum()
    expected_cloud = 100 * np.isin(data, [3, 4]).sum() / valid
    assert props["eo:cloud_cover"] == pytest.approx(expected_cloud, abs=1e-3)
    inside = (data > 0).sum()
    assert props[percentage_property("cloud_shadow")] == pytest.approx(
        100 * (data == 2).sum() / inside, abs=1e-3
    )
    assert props["grid:code"] == "MGRS-32UPU"
    assert props["s2:processing_baseline"] == "04.00"
    assert props["kappacat:model"] == "ukis-csmask-6b-l1c"
    assert "onnxruntime" in props["processing:software"]
    rels = {link["rel"]: link["href"] for link in item["links"]}
    assert rels["derived_from"].startswith("file:///eodata/")
    assert rels["derived_from"].endswith(".SAFE")


def test_validator_catches_broken_extension_fields(
    mask_cog: tuple[Path, np.ndarray], validator: StacValidator
) -> None:
    cog, data = mask_cog
    item = mask_item(cog, data, 0)
    broken = copy.deepcopy(item)
    broken["assets"]["mask"]["classification:classes"][1]["color_hint"] = "#green"
    assert any("classification" in e for e in validator.errors(broken))
    broken = copy.deepcopy(item)
    broken["properties"]["eo:cloud_cover"] = 140
    assert any("eo" in e for e in validator.errors(broken))
    broken = copy.deepcopy(item)
    broken["stac_extensions"].append("https://stac-extensions.github.io/nope/v9.9.9/schema.json")
    assert any("no schema" in e for e in validator.errors(broken))


def test_core_only_validation_without_schema_folder(mask_cog: tuple[Path, np.ndarray]) -> None:
    cog, data = mask_cog
    item = mask_item(cog, data, 0)
    core = StacValidator()
    assert core.errors(item) == []
    del item["properties"]["datetime"]
    assert core.errors(item)


def test_a_schema_the_folder_lacks_is_not_checked_and_breaks_nothing(
    mask_cog: tuple[Path, np.ndarray], validator: StacValidator
) -> None:
    """The projection extension refers to PROJJSON's schema, which is not offline."""
    cog, data = mask_cog
    item = mask_item(cog, data, 0)
    item["assets"]["mask"]["proj:projjson"] = {"type": "ProjectedCRS", "name": "WGS 84 / UTM"}
    assert validator.errors(item) == []
    item["assets"]["mask"]["proj:shape"] = ["many", "rows"]  # the extension itself still is
    assert any("proj" in e or "projection" in e for e in validator.errors(item))

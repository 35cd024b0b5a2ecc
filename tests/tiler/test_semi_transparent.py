"""A mask with thin cirrus, published: its class-3 share is searchable and the map draws it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from catalog.legend import LEGEND_BY_VALUE, SEMI_TRANSPARENT_CLOUD
from catalog.properties import SEMI_TRANSPARENT_RULE
from catalog.settings import DatabaseSettings, with_database
from catalog.stac_validation import StacValidator
from inference import InferenceSettings, run_mask
from inference.sample import write_sample_product
from ingest.items import build_mask_item, item_dict
from ingest.publish import publish_items
from tests.database import create_database, drop_database
from tests.tiler.conftest import reader_settings
from tests.tiler.pixels import decode_png, tile_for
from tiler import TilerSettings, create_app

COLLECTION = "sentinel-2-l1c-kappamask"


@pytest.fixture(scope="module")
def published(
    pg_admin_url: str,
    template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
    tiler_validator: StacValidator,
) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    """A generated L1C product with thin cirrus, masked, published, and the tiler over it."""
    base = tmp_path_factory.mktemp("cirrus")
    root = base / "storage"
    root.mkdir()
    sample = write_sample_product(base / "product", size=732, level="L1C", seed=1)
    settings = InferenceSettings(threads=2, _env_file=None)
    result = run_mask(sample.path, root / "mask.tif", settings=settings)
    item = item_dict(build_mask_item(result, str(root / "mask.tif")))
    name = f"kappacat_cirrus_{uuid.uuid4().hex[:10]}"
    create_database(pg_admin_url, name, template=template_database)
    try:
        database = reader_settings(DatabaseSettings(url=with_database(pg_admin_url, name)))
        publish_items(database.url, {"cirrus": [item]}, tiler_validator)
        app = create_app(TilerSettings(storage_roots=[str(root)], pool_max_size=2), database)
        with TestClient(app) as client:
            yield client, item
    finally:
        drop_database(pg_admin_url, name)


def test_the_item_has_a_class_3_share_and_says_what_made_it(
    published: tuple[TestClient, dict[str, Any]],
) -> None:
    _, item = published
    props = item["properties"]
    assert props[SEMI_TRANSPARENT_RULE] == "b10-thin-cirrus"
    assert props["kappacat:semi_transparent_cloud_percentage"] > 1.0
    assert props["eo:cloud_cover"] > props["kappacat:cloud_percentage"]  # class 3 counts too


def test_the_web_map_draws_semi_transparent_cloud_in_its_colour(
    published: tuple[TestClient, dict[str, Any]],
) -> None:
    client, item = published
    west, south, east, north = item["bbox"]
    tile = tile_for((west + east) / 2, (south + north) / 2, 11)
    day = item["properties"]["datetime"][:10]
    url = (
        f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
        f"?datetime={day}T00:00:00Z/{day}T23:59:59Z"
    )
    response = client.get(url)  # the mosaic the web map draws
    assert response.status_code == 200, response.text
    rgba = decode_png(response.content)
    colour = np.array(LEGEND_BY_VALUE[SEMI_TRANSPARENT_CLOUD].rgba, dtype=np.uint8)
    shown = (rgba == colour[:, None, None]).all(axis=0)
    assert shown.mean() > 0.005, f"{100 * shown.mean():.2f} % of the tile is class 3"
    legend = {c["value"]: c["color"] for c in client.get("/legend").json()["classes"]}
    assert legend[SEMI_TRANSPARENT_CLOUD] == LEGEND_BY_VALUE[SEMI_TRANSPARENT_CLOUD].color

"""One broken item does not poison its neighbours: mosaics and queries leave it out and say so.

Three items overlap the same place in June: ``a`` (a good mask), ``gone`` (its href is under
the storage root but the file is not there) and ``corrupt`` (a file that is no GeoTIFF), the
two broken ones newer, so a mosaic meets them first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from catalog.settings import DatabaseSettings, with_database
from catalog.stac_validation import StacValidator
from ingest.publish import publish_items
from tests.database import create_database, drop_database
from tests.factories import write_mask_cog
from tests.tiler.conftest import COLLECTION, SIZE, cog_item, reader_settings, tiler_settings
from tests.tiler.pixels import (
    assert_transparent_tile,
    cog_centre,
    decode_png,
    expected_classes,
    legend_rgba,
    tile_for,
)
from tests.tiler.test_queries import expected_counts, lonlat, polygon
from tiler import create_app

pytestmark = pytest.mark.integration

JUNE = "2023-06-01/2023-06-30"
CENTRE = tile_for(*cog_centre(), 14)
ZXY = f"{CENTRE.z}/{CENTRE.x}/{CENTRE.y}"
SKIPPED = "KappaCat-Skipped-Items"


class Data:
    """The published items and the good mask's pixels."""

    def __init__(self, items: dict[str, dict[str, Any]], good: np.ndarray, root: Path) -> None:
        self.items, self.good, self.root = items, good, root

    def label(self, name: str) -> str:
        return f"{COLLECTION}/{self.items[name]['id']}"


@pytest.fixture(scope="module")
def broken(
    pg_admin_url: str,
    template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
    tiler_validator: StacValidator,
) -> Iterator[tuple[TestClient, Data]]:
    root = tmp_path_factory.mktemp("broken")
    good_cog = root / "a.tif"
    good = write_mask_cog(good_cog, SIZE, seed=0)
    day = datetime(2023, 6, 1, 10, 30, tzinfo=UTC)
    (root / "corrupt.tif").write_bytes(b"this is no GeoTIFF" * 100)
    items = {
        "a": cog_item(good_cog, good, 10, day),
        "gone": cog_item(good_cog, good, 11, day.replace(day=2), href=str(root / "gone.tif")),
        "corrupt": cog_item(good_cog, good, 12, day.replace(day=3), href=str(root / "corrupt.tif")),
    }
    name = f"kappacat_broken_{uuid.uuid4().hex[:10]}"
    create_database(pg_admin_url, name, template=template_database)
    try:
        database = reader_settings(DatabaseSettings(url=with_database(pg_admin_url, name)))
        publish_items(database.url, {"broken": list(items.values())}, tiler_validator)
        data = Data(items, good, root)
        settings = tiler_settings(data, lookup_cache_ttl=0)  # type: ignore[arg-type]
        with TestClient(create_app(settings, database)) as client:
            yield client, data
    finally:
        drop_database(pg_admin_url, name)


def skipped_labels(response: Any) -> set[str]:
    return {label.strip() for label in response.headers.get(SKIPPED, "").split(",") if label}


def test_the_mosaic_draws_the_good_item_and_names_the_broken_ones(broken):
    client, data = broken
    response = client.get(
        f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{ZXY}.png?datetime={JUNE}"
    )
    assert response.status_code == 200, response.text
    assert skipped_labels(response) == {data.label("gone"), data.label("corrupt")}
    assert response.headers["cache-control"] == "no-store"  # a degraded tile is not kept
    rgba = decode_png(response.content)
    classes, certain = expected_classes([data.good], CENTRE)
    assert certain.mean() > 0.8 and len(np.unique(classes[certain])) > 1
    assert np.array_equal(rgba[:, certain], legend_rgba(classes)[:, certain])


def test_a_mosaic_of_only_broken_items_is_empty_and_says_why(broken):
    client, data = broken
    response = client.get(
        f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{ZXY}.png?datetime=2023-06-02/2023-06-03"
    )
    assert_transparent_tile(response)
    assert skipped_labels(response) == {data.label("gone"), data.label("corrupt")}
    assert response.headers["Cache-Control"] == "no-store"


def test_point_and_statistics_answer_for_the_good_item_and_list_the_broken(broken):
    client, data = broken
    lon, lat = lonlat(300.5, 300.5)
    point = client.get(f"/collections/{COLLECTION}/point/{lon},{lat}", params={"datetime": JUNE})
    geometry = polygon([(100, 100), (120, 380), (300, 450), (420, 300)])
    stats = client.post(
        f"/collections/{COLLECTION}/statistics", params={"datetime": JUNE}, json=geometry
    )
    for response in (point, stats):
        assert response.status_code == 200, response.text
        answer = response.json()
        assert [i["id"] for i in answer["items"]] == [data.items["a"]["id"]]
        reasons = {s["id"]: s["reason"] for s in answer["skipped"]}
        assert "is missing" in reasons[data.items["gone"]["id"]]
        assert "cannot be read" in reasons[data.items["corrupt"]["id"]]
        assert skipped_labels(response) == {data.label("gone"), data.label("corrupt")}
    counts = {c["value"]: c["count"] for c in stats.json()["items"][0]["classes"]}
    assert counts == {v: int(n) for v, n in enumerate(expected_counts(data.good, geometry))}


@pytest.mark.parametrize("rest", [f"tiles/WebMercatorQuad/{ZXY}.png", "info", "point/{lon},{lat}"])
def test_an_item_whose_mask_file_is_missing_is_a_404(broken, rest: str):
    client, data = broken
    lon, lat = lonlat(300.5, 300.5)
    url = f"/collections/{COLLECTION}/items/{data.items['gone']['id']}/" + rest.format(
        lon=lon, lat=lat
    )
    response = client.get(url)
    assert response.status_code == 404, response.text
    assert "gone.tif" in response.json()["detail"] and "missing" in response.json()["detail"]

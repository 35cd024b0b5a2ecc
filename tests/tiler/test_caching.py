"""Item tiles carry an ETag that changes with the item; clients revalidate with If-None-Match."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from catalog.settings import DatabaseSettings
from catalog.stac_validation import StacValidator
from ingest.publish import publish_items
from tests.factories import write_mask_cog
from tests.tiler.conftest import COLLECTION, TilerData, cog_item, reader_settings
from tests.tiler.pixels import cog_centre, tile_for
from tiler import TilerSettings, create_app

pytestmark = pytest.mark.integration

CENTRE = tile_for(*cog_centre(), 14)
TILE = f"tiles/WebMercatorQuad/{CENTRE.z}/{CENTRE.x}/{CENTRE.y}.png"


def test_item_tiles_have_an_etag_and_answer_304(client: TestClient, tiler_data: TilerData):
    url = f"/collections/{COLLECTION}/items/{tiler_data.item_id('a')}/{TILE}"
    first = client.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.headers["cache-control"] == "public, max-age=3600"
    assert client.get(url).headers["etag"] == etag  # stable

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(url, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "public, max-age=3600"
    changed = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.content == first.content

    other = client.get(f"/collections/{COLLECTION}/items/{tiler_data.item_id('b')}/{TILE}")
    assert other.headers["etag"] != etag


def test_mosaic_tiles_are_cached_briefly_and_errors_not_at_all(client: TestClient):
    mosaic = client.get(f"/collections/{COLLECTION}/{TILE}", params={"datetime": "2023-06-01"})
    assert mosaic.status_code == 200
    assert mosaic.headers["cache-control"] == "public, max-age=300"
    assert "etag" not in mosaic.headers
    missing = client.get(f"/collections/{COLLECTION}/items/nope/{TILE}")
    assert missing.status_code == 404
    assert "etag" not in missing.headers and "cache-control" not in missing.headers


def test_the_etag_changes_when_the_item_is_published_again(
    database: DatabaseSettings, tmp_path: Path, tiler_validator: StacValidator
):
    cog = tmp_path / "mask.tif"
    data = write_mask_cog(cog, 256, seed=3)
    when = datetime(2023, 6, 5, 10, 30, tzinfo=UTC)
    item = cog_item(cog, data, 0, when)
    publish_items(database.url, {"first": [item]}, tiler_validator)
    settings = TilerSettings(storage_roots=[str(tmp_path)], lookup_cache_ttl=0)
    url = f"/collections/{COLLECTION}/items/{item['id']}/{TILE}"
    with TestClient(create_app(settings, reader_settings(database))) as test_client:
        before = test_client.get(url)
        assert before.status_code == 200
        etag = before.headers["etag"]
        item["properties"]["processing:datetime"] = "2030-01-01T00:00:00Z"
        publish_items(database.url, {"again": [item]}, tiler_validator)
        after = test_client.get(url, headers={"If-None-Match": etag})
        assert after.status_code == 200
        assert after.headers["etag"] != etag


def test_an_item_published_after_a_404_shows_at_once(
    database: DatabaseSettings, tmp_path: Path, tiler_validator: StacValidator
):
    cog = tmp_path / "mask.tif"
    data = write_mask_cog(cog, 256, seed=5)
    item = cog_item(cog, data, 1, datetime(2023, 6, 6, 10, 30, tzinfo=UTC))
    settings = TilerSettings(storage_roots=[str(tmp_path)])  # lookups cached for minutes
    url = f"/collections/{COLLECTION}/items/{item['id']}/{TILE}"
    with TestClient(create_app(settings, reader_settings(database))) as test_client:
        assert test_client.get(url).status_code == 404
        publish_items(database.url, {"late": [item]}, tiler_validator)
        assert test_client.get(url).status_code == 200

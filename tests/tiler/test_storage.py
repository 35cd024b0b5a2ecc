"""Storage roots: which hrefs the tiler reads, and a URL prefix read from its local folder."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from catalog.settings import DatabaseSettings
from catalog.stac_validation import StacValidator
from ingest.publish import publish_items
from tests.factories import write_mask_cog
from tests.tiler.conftest import COLLECTION, cog_item, reader_settings
from tests.tiler.pixels import cog_centre, tile_for
from tiler import TilerSettings, create_app
from tiler.errors import AssetNotAllowed
from tiler.storage import StorageRoots

API = "http://api.example.test:8081/assets/"


@pytest.fixture
def served(tmp_path: Path) -> Path:
    folder = tmp_path / "served"
    (folder / "masks").mkdir(parents=True)
    (folder / "masks" / "a.tif").write_bytes(b"")
    (tmp_path / "secret.tif").write_bytes(b"")
    (folder / "masks" / "link.tif").symlink_to(tmp_path / "secret.tif")
    return folder


def test_a_mapped_prefix_is_read_from_its_folder(served: Path):
    roots = StorageRoots.from_settings([f"{API}={served}"])
    assert roots.resolve(f"{API}masks/a.tif", "item") == str(served / "masks" / "a.tif")
    assert roots.resolve(f"{API}masks/%61.tif", "item") == str(served / "masks" / "a.tif")
    assert roots.resolve(str(served / "masks" / "a.tif"), "item") == str(served / "masks/a.tif")


@pytest.mark.parametrize(
    ("href", "problem"),
    [
        (f"{API}masks/../../secret.tif", "not in canonical form"),
        (f"{API}masks/%2e%2e/%2e%2e/secret.tif", "not in canonical form"),
        (f"{API}masks/link.tif", "outside the storage roots"),  # a symlink out of the folder
        ("http://api.example.test:8081/other/a.tif", "outside the storage roots"),
        (f"{API}masks/a.tif?x=1", "not in canonical form"),
    ],
)
def test_a_mapped_prefix_stays_inside_its_folder(served: Path, href: str, problem: str):
    roots = StorageRoots.from_settings([f"{API}={served}"])
    with pytest.raises(AssetNotAllowed, match=problem):
        roots.resolve(href, "item")


def test_plain_roots_are_unchanged(tmp_path: Path):
    roots = StorageRoots.from_settings([str(tmp_path), "s3://bucket/masks"])
    assert roots.resolve("s3://bucket/masks/a.tif", "item") == "s3://bucket/masks/a.tif"
    assert roots.mapped == () and roots.prefixes == ("s3://bucket/masks/",)


@pytest.mark.integration
def test_items_with_api_asset_urls_are_drawn_from_the_folder(
    database: DatabaseSettings, tmp_path: Path, tiler_validator: StacValidator
):
    """As the demo publishes them: hrefs on the API's /assets route, nothing listening there."""
    cog = tmp_path / "masks" / "mask.tif"
    cog.parent.mkdir()
    data = write_mask_cog(cog, 256, seed=3)
    local = cog_item(cog, data, 0, datetime(2023, 6, 5, 10, 30, tzinfo=UTC))
    remote = cog_item(cog, data, 1, datetime(2023, 6, 6, 10, 30, tzinfo=UTC))
    remote["assets"]["mask"]["href"] = f"{API}masks/mask.tif"
    publish_items(database.url, {"both": [local, remote]}, tiler_validator)
    settings = TilerSettings(storage_roots=[f"{API}={tmp_path}"])
    centre = tile_for(*cog_centre(), 14)
    tile = f"tiles/WebMercatorQuad/{centre.z}/{centre.x}/{centre.y}.png"
    with TestClient(create_app(settings, reader_settings(database))) as client:
        answers = [
            client.get(f"/collections/{COLLECTION}/items/{item['id']}/{tile}")
            for item in (local, remote)
        ]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].content == answers[1].content

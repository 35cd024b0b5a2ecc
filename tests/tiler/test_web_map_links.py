"""Items and collections served by the STAC API carry web-map links (``xyz``, ``tilejson``,
``wmts``) to the tiler, and each link, asked of the tiler, draws the mask in legend colours."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from morecantile import Tile

from catalog import stac_ext
from catalog.stac_validation import StacValidator
from catalog_api.app import create_app as create_api
from catalog_api.settings import ApiSettings
from tests.tiler.conftest import COLLECTION, TilerData
from tests.tiler.pixels import cog_centre, tile_for
from tests.tiler.test_tiles import WMTS_NS, assert_legend_pixels

pytestmark = pytest.mark.integration

TILER = "https://tiles.example.test/maps"
"""The tiler's public URL given to the API (the tiler answers the same paths in process)."""
CENTRE = tile_for(*cog_centre(), 14)


@pytest.fixture(scope="module")
def api(tiler_data: TilerData) -> Iterator[TestClient]:
    """The STAC API over the tiler tests' catalogue, told where the tiler is."""
    settings = ApiSettings(tiler_url=TILER, assets_dir=tiler_data.root, pool_max_size=2)
    with TestClient(create_api(settings, tiler_data.database)) as test_client:
        yield test_client


def _local(url: str) -> str:
    """A URL of the tiler (its public one, or the in-process one its documents name) as the
    path and query the in-process tiler answers."""
    parts = urlsplit(url)
    if url.startswith(TILER + "/"):
        path = parts.path.removeprefix(urlsplit(TILER).path)
    else:
        assert parts.netloc == "testserver", url
        path = parts.path
    return f"{path}?{parts.query}" if parts.query else path


def _fill(template: str, tile: Tile) -> str:
    for names, value in (
        (("{z}", "{TileMatrix}"), tile.z),
        (("{x}", "{TileCol}"), tile.x),
        (("{y}", "{TileRow}"), tile.y),
    ):
        for name in names:
            template = template.replace(name, str(value))
    return template


def web_map_links(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The object's web-map links by relation, each pointing at the configured tiler."""
    links = {
        link["rel"]: link for link in obj["links"] if link["rel"] in ("xyz", "tilejson", "wmts")
    }
    assert set(links) == {"xyz", "tilejson", "wmts"}
    assert all(link["href"].startswith(TILER + "/") for link in links.values())
    assert stac_ext.WEB_MAP_LINKS in obj["stac_extensions"]
    return links


def draw_every_link(tiler: TestClient, links: dict[str, dict[str, Any]], tile: Tile) -> list[bytes]:
    """The tile ``tile`` drawn through each link: XYZ directly, TileJSON's template, WMTS's
    ResourceURL of the link's layer."""
    tiles = []
    xyz = tiler.get(_local(_fill(links["xyz"]["href"], tile)))
    assert xyz.status_code == 200, xyz.text
    tiles.append(xyz.content)

    tilejson = tiler.get(_local(links["tilejson"]["href"]))
    assert tilejson.status_code == 200, tilejson.text
    [template] = tilejson.json()["tiles"]
    from_tilejson = tiler.get(_local(_fill(template, tile)))
    assert from_tilejson.status_code == 200, from_tilejson.text
    tiles.append(from_tilejson.content)

    wmts = tiler.get(_local(links["wmts"]["href"]))
    assert wmts.status_code == 200, wmts.text
    doc = etree.fromstring(wmts.content)
    layer = links["wmts"]["wmts:layer"]
    [resource] = doc.xpath(
        f"//wmts:Layer[ows:Identifier='{layer}']/wmts:ResourceURL/@template", namespaces=WMTS_NS
    )
    from_wmts = tiler.get(_local(_fill(str(resource), tile)))
    assert from_wmts.status_code == 200, from_wmts.text
    tiles.append(from_wmts.content)
    return tiles


def test_an_item_from_the_api_links_to_tiles_of_its_mask(
    api: TestClient, client: TestClient, tiler_data: TilerData, tiler_validator: StacValidator
):
    response = api.get(f"/collections/{COLLECTION}/items/{tiler_data.item_id('a')}")
    assert response.status_code == 200
    item = response.json()
    tiler_validator.validate(item)  # the extension's schema, offline
    links = web_map_links(item)
    for content in draw_every_link(client, links, CENTRE):
        shown = assert_legend_pixels(content, [tiler_data.arrays["a"]], CENTRE)
        assert len(set(shown.tolist()) - {0}) == 5


def test_search_results_carry_the_same_links(api: TestClient, tiler_data: TilerData):
    response = api.get(
        "/search", params={"ids": tiler_data.item_id("b"), "collections": COLLECTION}
    )
    assert response.status_code == 200
    [item] = response.json()["features"]
    links = web_map_links(item)
    assert f"/items/{tiler_data.item_id('b')}/" in links["xyz"]["href"]


def test_a_collection_links_to_its_mosaic(
    api: TestClient, client: TestClient, tiler_data: TilerData, tiler_validator: StacValidator
):
    collection = api.get(f"/collections/{COLLECTION}").json()
    tiler_validator.validate(collection)
    listed = [c for c in api.get("/collections").json()["collections"] if c["id"] == COLLECTION]
    assert web_map_links(listed[0]) == web_map_links(collection)
    arrays = tiler_data.arrays
    for content in draw_every_link(client, web_map_links(collection), CENTRE):
        assert_legend_pixels(content, [arrays["b"], arrays["a"]], CENTRE)  # newest on top


def test_without_a_tiler_url_there_are_no_web_map_links(tiler_data: TilerData):
    settings = ApiSettings(tiler_url="", assets_dir=tiler_data.root, pool_max_size=1)
    with TestClient(create_api(settings, tiler_data.database)) as api:
        item = api.get(f"/collections/{COLLECTION}/items/{tiler_data.item_id('a')}").json()
    assert not {link["rel"] for link in item["links"]} & {"xyz", "tilejson", "wmts"}
    assert stac_ext.WEB_MAP_LINKS not in item["stac_extensions"]

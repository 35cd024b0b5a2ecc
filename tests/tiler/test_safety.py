"""No caller-given file or URL is read, requests are bounded, and mistakes get a 4xx in JSON."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.tiler.conftest import COLLECTION, JUNE, TilerData
from tests.tiler.pixels import assert_transparent_tile, cog_centre, tile_for

pytestmark = pytest.mark.integration

CENTRE = tile_for(*cog_centre(), 14)
ZXY = f"{CENTRE.z}/{CENTRE.x}/{CENTRE.y}"
JULY = "2023-07-01/2023-07-31"
LON, LAT = cog_centre()
MOSAIC = f"/collections/{COLLECTION}"


def square(size: float = 0.01, vertices: int = 4) -> dict[str, Any]:
    """A polygon around the test masks' centre with about ``vertices`` vertices."""
    import math

    ring = [
        [
            LON + size * math.cos(2 * math.pi * i / vertices),
            LAT + size * math.sin(2 * math.pi * i / vertices),
        ]
        for i in range(vertices)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def item_url(data: TilerData, name: str, rest: str) -> str:
    return f"/collections/{COLLECTION}/items/{data.item_id(name)}/{rest}"


def test_no_route_takes_a_dataset_url_or_path(client: TestClient):
    spec = client.get("/api").json()
    assert any("/tiles/" in path for path in spec["paths"]), sorted(spec["paths"])
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            names = {p["name"] for p in operation.get("parameters", [])}
            assert not names & {"url", "path", "href", "src_path"}, path
    for url in (
        "/cog/info?url=/etc/passwd",
        "/cog/tiles/WebMercatorQuad/0/0/0?url=/etc/passwd",
        "/external/info?url=https://example.com/a.tif",
        "/mosaicjson/info?url=/etc/passwd",
        "/stac/info?url=/etc/passwd",
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("name", ["outside", "url", "traversal"])
def test_items_whose_mask_is_outside_the_storage_roots_are_refused(
    client: TestClient, tiler_data: TilerData, name: str
):
    for rest in (
        f"tiles/WebMercatorQuad/{ZXY}.png",
        "WebMercatorQuad/tilejson.json",
        "WMTSCapabilities.xml",
        f"point/{LON},{LAT}",
        "info",
    ):
        response = client.get(item_url(tiler_data, name, rest))
        assert response.status_code == 403, (rest, response.text)
        assert "outside the storage roots" in response.json()["detail"]


def test_mosaics_and_queries_leave_out_items_outside_the_roots_and_name_them(
    client: TestClient, tiler_data: TilerData
):
    outside = {f"{COLLECTION}/{tiler_data.item_id(n)}" for n in ("outside", "url", "traversal")}
    june_and_july = "2023-06-01/2023-07-31"
    june_tile = client.get(f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png", params={"datetime": JUNE})
    assert june_tile.status_code == 200
    tile = client.get(
        f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png", params={"datetime": june_and_july}
    )
    assert tile.status_code == 200, tile.text
    assert tile.content == june_tile.content  # July's items are not drawn, June's are
    assert set(tile.headers["KappaCat-Skipped-Items"].split(", ")) == outside
    for response in (
        client.get(f"{MOSAIC}/point/{LON},{LAT}", params={"datetime": june_and_july}),
        client.post(f"{MOSAIC}/statistics", params={"datetime": june_and_july}, json=square()),
    ):
        assert response.status_code == 200, response.text
        answer = response.json()
        assert {i["id"] for i in answer["items"]} == {tiler_data.item_id(n) for n in ("a", "b")}
        assert {f"{COLLECTION}/{s['id']}" for s in answer["skipped"]} == outside
        assert all("outside the storage roots" in s["reason"] for s in answer["skipped"])
    only_july = client.get(f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png", params={"datetime": JULY})
    assert_transparent_tile(only_july)
    assert set(only_july.headers["KappaCat-Skipped-Items"].split(", ")) == outside


BAD_REQUESTS: list[tuple[str, str, dict[str, Any] | None, int]] = [
    # unknown things
    ("GET", f"/collections/nope/items/x/tiles/WebMercatorQuad/{ZXY}.png", None, 404),
    ("GET", f"/collections/{COLLECTION}/items/nope/tiles/WebMercatorQuad/{ZXY}.png", None, 404),
    ("GET", f"/collections/{COLLECTION}/items/nope/WebMercatorQuad/tilejson.json", None, 404),
    ("GET", f"/collections/{COLLECTION}/items/nope/WMTSCapabilities.xml", None, 404),
    ("GET", f"/collections/nope/tiles/WebMercatorQuad/{ZXY}.png", None, 404),
    ("GET", "/collections/nope/WebMercatorQuad/tilejson.json", None, 404),
    ("GET", "/collections/nope/WMTSCapabilities.xml", None, 404),
    ("GET", f"/collections/nope/point/{LON},{LAT}?datetime={JUNE}", None, 404),
    ("POST", f"/collections/nope/statistics?datetime={JUNE}", square(), 404),
    ("GET", f"/searches/0123456789abcdef/tiles/WebMercatorQuad/{ZXY}.png", None, 404),
    ("GET", "/searches/0123456789abcdef/WebMercatorQuad/tilejson.json", None, 404),
    ("GET", "/searches/0123456789abcdef/WMTSCapabilities.xml", None, 404),
    ("GET", "/searches/0123456789abcdef/info", None, 404),
    ("POST", "/searches/register", {"collections": ["nope"]}, 404),
    ("GET", f"{MOSAIC}/tiles/NoSuchGrid/{ZXY}.png", None, 422),
    # tile indices outside the grid
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/25/0/0.png", None, 404),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/-1/0/0.png", None, 404),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/3/8/0.png", None, 404),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/3/0/-1.png", None, 404),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/99999999999999999999/0/0.png", None, 404),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/a/b/c.png", None, 422),
    # a tile of the grid off the item's mask is no mistake: it is transparent (test below)
    ("GET", f"/collections/{COLLECTION}/items/ITEM/point/-9007199254740992,0", None, 404),
    ("GET", f"/collections/{COLLECTION}/items/ITEM/point/0,nan", None, 404),
    # zoom ranges of tilesets, TileJSON and WMTS within the grid (zoom 5 000 cost 7 s, then 500)
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad?maxzoom=5000", None, 400),
    ("GET", f"/collections/{COLLECTION}/items/ITEM/tiles/WebMercatorQuad?maxzoom=1000", None, 400),
    ("GET", f"{MOSAIC}/WebMercatorQuad/tilejson.json?minzoom=25", None, 400),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad?minzoom=10&maxzoom=5", None, 400),
    ("GET", f"{MOSAIC}/WMTSCapabilities.xml?zooms=WebMercatorQuad::0,2000", None, 400),
    ("GET", f"{MOSAIC}/WMTSCapabilities.xml?zooms=*::0,30", None, 400),
    # the list of registered searches
    ("GET", "/searches/?offset=99999999999999999999", None, 422),
    ("GET", "/searches/list?offset=-1", None, 422),
    # formats and sizes
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.jpg", None, 400),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.tif", None, 400),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?tilesize=8192", None, 400),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?items_limit=1000", None, 400),
    # searches
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?datetime=2020-01-01/2023-01-01", None, 400),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?datetime=2023-01-01/..", None, 400),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?datetime=yesterday", None, 400),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?datetime=2023-06-02/2023-06-01", None, 400),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?filter=eo:cloud_cover<<3", None, 400),
    (
        "GET",
        f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?filter={{bad&filter-lang=cql2-json",
        None,
        400,
    ),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?sortby=secret_column", None, 400),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?bbox=1,2,3", None, 400),
    ("GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png?bbox=10,50,0,40", None, 400),
    ("POST", "/searches/register", {"collections": [COLLECTION], "datetime": "2020-01-01/.."}, 400),
    (
        "POST",
        "/searches/register",
        {"collections": [COLLECTION], "sortby": [{"field": "secret", "direction": "asc"}]},
        400,
    ),
    ("POST", "/searches/register", {"filter": {"op": "="}}, 400),
    (
        "POST",
        "/searches/register",
        {"collections": [COLLECTION], "filter": {"op": "=", "args": 1}},
        400,
    ),
    (
        "POST",
        "/searches/register",
        {
            "collections": [COLLECTION],
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, "a", "b"]},
        },
        400,
    ),
    # queries
    ("GET", f"{MOSAIC}/point/{LON},{LAT}", None, 400),  # a date range is required
    ("GET", f"{MOSAIC}/point/200,{LAT}?datetime={JUNE}", None, 422),
    ("GET", f"{MOSAIC}/point/{LON},{LAT}?datetime=2022-01-01/2023-06-30", None, 400),
    ("POST", f"{MOSAIC}/statistics?datetime={JUNE}", square(vertices=3000), 400),
    ("POST", f"{MOSAIC}/statistics?datetime={JUNE}", square(size=1.0), 400),  # too many pixels
    ("POST", f"{MOSAIC}/statistics?datetime={JUNE}", {"type": "Point", "coordinates": [1, 2]}, 422),
    ("POST", f"{MOSAIC}/statistics?datetime={JUNE}", None, 422),
    ("POST", f"{MOSAIC}/statistics", square(), 400),
]


@pytest.mark.parametrize(("method", "url", "body", "status"), BAD_REQUESTS)
def test_mistakes_get_a_4xx_with_a_json_body(
    client: TestClient,
    tiler_data: TilerData,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    status: int,
):
    url = url.replace("ITEM", tiler_data.item_id("a"))
    response = client.request(method, url, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]


def test_the_search_list_takes_any_metadata_filter_text(client: TestClient):
    for query in ("%ZZ=1", "name=100%25", "sortby=-usecount,name", "name=x'%3B--"):
        response = client.get(f"/searches/?{query}")
        assert response.status_code == 200, (query, response.text)
        assert response.headers["content-type"] == "application/json"


def test_a_mosaic_tile_without_items_is_transparent_not_an_error(client: TestClient):
    response = client.get(
        f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png", params={"datetime": "2022-06-01/2022-06-30"}
    )
    assert_transparent_tile(response)
    far = tile_for(-3.7, 40.4, 10)  # Madrid: no masks there
    response = client.get(f"{MOSAIC}/tiles/WebMercatorQuad/{far.z}/{far.x}/{far.y}.png")
    assert_transparent_tile(response)
    assert "KappaCat-Skipped-Items" not in response.headers
    response = client.get(f"{MOSAIC}/tiles/WebMercatorQuad/{far.z}/{far.x}/{far.y}@2x")
    assert_transparent_tile(response, 512)


def test_an_item_tile_off_its_mask_is_transparent_not_an_error(
    client: TestClient, tiler_data: TilerData
):
    far = tile_for(-3.7, 40.4, 10)  # Madrid, far from the item's mask
    item = f"/collections/{COLLECTION}/items/{tiler_data.item_id('a')}"
    response = client.get(f"{item}/tiles/WebMercatorQuad/{far.z}/{far.x}/{far.y}.png")
    assert_transparent_tile(response)
    assert response.headers["ETag"]  # cached like the item's other tiles

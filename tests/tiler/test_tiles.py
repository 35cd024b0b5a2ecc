"""Item and mosaic tiles carry exactly the legend colours of the masks; TileJSON, WMTS, searches."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from morecantile import Tile
from rasterio.warp import transform

from tests.factories import UTM32_ORIGIN
from tests.tiler.conftest import COLLECTION, JUNE, TilerData
from tests.tiler.pixels import (
    cog_centre,
    decode_png,
    expected_classes,
    legend_rgba,
    open_rgba,
    rgba_classes,
    tile_for,
)

pytestmark = pytest.mark.integration
CENTRE = tile_for(*cog_centre(), 14)
WMTS_NS = {"wmts": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}


def item_tile(data: TilerData, name: str, tile: Tile, suffix: str = ".png") -> str:
    return (
        f"/collections/{COLLECTION}/items/{data.item_id(name)}/tiles/WebMercatorQuad/"
        f"{tile.z}/{tile.x}/{tile.y}{suffix}"
    )


def mosaic_tile(tile: Tile, query: str = f"datetime={JUNE}") -> str:
    return f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png?{query}"


def assert_legend_pixels(content: bytes, layers: list[np.ndarray], tile: Tile) -> np.ndarray:
    """The tile shows the layers' classes in legend colours wherever the answer is certain."""
    rgba = decode_png(content)
    assert rgba.shape == (4, 256, 256)
    classes, certain = expected_classes(layers, tile)
    assert certain.mean() > 0.8
    assert np.array_equal(rgba[:, certain], legend_rgba(classes)[:, certain])
    assert (rgba_classes(rgba) != 255).all(), "a pixel has a colour outside the legend"
    return classes[certain]


def test_item_tile_shows_the_mask_in_legend_colours(client: TestClient, tiler_data: TilerData):
    response = client.get(item_tile(tiler_data, "a", CENTRE))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    shown = assert_legend_pixels(response.content, [tiler_data.arrays["a"]], CENTRE)
    assert len(set(shown.tolist()) - {0}) == 5  # every class of the legend is in this tile


def test_item_tile_no_data_is_transparent(client: TestClient, tiler_data: TilerData):
    x, y = UTM32_ORIGIN[0] + 640, UTM32_ORIGIN[1] - 640
    lons, lats = transform("EPSG:32632", "EPSG:4326", [x], [y])
    corner = tile_for(lons[0], lats[0], 14)  # on the edge of the no-data corner
    response = client.get(item_tile(tiler_data, "a", corner, suffix=""))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"  # PNG by default, never JPEG
    shown = assert_legend_pixels(response.content, [tiler_data.arrays["a"]], corner)
    assert (shown == 0).mean() > 0.1 and (shown > 0).mean() > 0.1
    alpha = decode_png(response.content)[3]
    assert set(np.unique(alpha).tolist()) == {0, 255}


def test_mosaic_tile_takes_the_newest_item_with_data(client: TestClient, tiler_data: TilerData):
    a, b = tiler_data.arrays["a"], tiler_data.arrays["b"]
    response = client.get(mosaic_tile(CENTRE))
    assert response.status_code == 200
    assert_legend_pixels(response.content, [b, a], CENTRE)
    # the tile straddles b's edge: both items show
    only_b, certain = expected_classes([b], CENTRE)
    assert (only_b[certain] == 0).mean() > 0.02 and (only_b[certain] > 0).mean() > 0.02


def test_mosaic_orders_least_cloudy_first_and_filters(client: TestClient, tiler_data: TilerData):
    a, b = tiler_data.arrays["a"], tiler_data.arrays["b"]
    cloud = {n: tiler_data.items[n]["properties"]["eo:cloud_cover"] for n in ("a", "b")}
    clearest, cloudiest = sorted(("a", "b"), key=cloud.__getitem__)
    layers = {"a": a, "b": b}

    least = client.get(mosaic_tile(CENTRE, f"datetime={JUNE}&order=least-cloudy"))
    assert least.status_code == 200
    assert_legend_pixels(least.content, [layers[clearest], layers[cloudiest]], CENTRE)

    by_sortby = client.get(mosaic_tile(CENTRE, f"datetime={JUNE}&sortby=eo:cloud_cover"))
    assert by_sortby.content == least.content

    threshold = (cloud["a"] + cloud["b"]) / 2
    filtered = client.get(mosaic_tile(CENTRE, f"datetime={JUNE}&filter=eo:cloud_cover<{threshold}"))
    assert filtered.status_code == 200
    assert_legend_pixels(filtered.content, [layers[clearest]], CENTRE)


def test_resampling_stays_nearest_whatever_the_client_asks(client: TestClient, tiler_data):
    plain = client.get(item_tile(tiler_data, "a", CENTRE))
    asked = client.get(item_tile(tiler_data, "a", CENTRE) + "?resampling=bilinear&reproject=cubic")
    assert asked.status_code == 200
    assert asked.content == plain.content
    low = tile_for(*cog_centre(), 11)  # read from the COG's mode overviews
    for url in (item_tile(tiler_data, "a", low) + "?resampling=average", mosaic_tile(low)):
        response = client.get(url)
        assert response.status_code == 200
        classes = rgba_classes(decode_png(response.content))
        assert (classes != 255).all(), "a blended colour: classes were not kept apart"
        assert len(set(classes.ravel().tolist()) - {0}) >= 4


def test_webp_tiles_are_lossless(client: TestClient, tiler_data: TilerData):
    png = client.get(item_tile(tiler_data, "a", CENTRE))
    webp = client.get(item_tile(tiler_data, "a", CENTRE, suffix=".webp"))
    assert webp.status_code == 200
    assert webp.headers["content-type"] == "image/webp"
    assert np.array_equal(open_rgba(webp.content), decode_png(png.content))


def test_tilejson_templates_give_the_tiles(client: TestClient, tiler_data: TilerData):
    item_base = f"/collections/{COLLECTION}/items/{tiler_data.item_id('a')}"
    for url, direct in (
        (
            f"{item_base}/WebMercatorQuad/tilejson.json?tilesize=256",
            item_tile(tiler_data, "a", CENTRE),
        ),
        (
            f"/collections/{COLLECTION}/WebMercatorQuad/tilejson.json?datetime={JUNE}",
            mosaic_tile(CENTRE, f"datetime={JUNE}"),  # 256 px: the default of both
        ),
    ):
        doc = client.get(url)
        assert doc.status_code == 200
        tilejson = doc.json()
        assert 0 <= tilejson["minzoom"] <= tilejson["maxzoom"] <= 24
        west, south, east, north = tilejson["bounds"]
        lon, lat = cog_centre()
        assert west < lon < east and south < lat < north
        template = tilejson["tiles"][0].removeprefix("http://testserver")
        filled = template.format(z=CENTRE.z, x=CENTRE.x, y=CENTRE.y)
        tile = client.get(filled)
        assert tile.status_code == 200
        assert np.array_equal(decode_png(tile.content), decode_png(client.get(direct).content))


def test_wmts_capabilities_parse_and_their_tiles_work(client: TestClient, tiler_data: TilerData):
    item_base = f"/collections/{COLLECTION}/items/{tiler_data.item_id('a')}"
    for url in (
        f"{item_base}/WMTSCapabilities.xml",
        f"/collections/{COLLECTION}/WMTSCapabilities.xml?datetime={JUNE}",
    ):
        response = client.get(url)
        assert response.status_code == 200, response.text
        doc = etree.fromstring(response.content)
        assert doc.tag == f"{{{WMTS_NS['wmts']}}}Capabilities"
        layers = doc.findall(".//wmts:Contents/wmts:Layer", WMTS_NS)
        assert layers
        resource = layers[0].find("wmts:ResourceURL", WMTS_NS)
        template = resource.get("template").removeprefix("http://testserver")
        tms = layers[0].find(".//wmts:TileMatrixSet", WMTS_NS).text
        assert tms in {"WebMercatorQuad", "WorldCRS84Quad", "EuropeanETRS89_LAEAQuad"}
        if tms != "WebMercatorQuad":
            template = template.replace(f"/{tms}/", "/WebMercatorQuad/")
        filled = (
            template.replace("{TileMatrix}", str(CENTRE.z))
            .replace("{TileCol}", str(CENTRE.x))
            .replace("{TileRow}", str(CENTRE.y))
        )
        tile = client.get(filled)
        assert tile.status_code == 200
        assert tile.headers["content-type"] == "image/png"


def test_registered_search_mosaic(client: TestClient, tiler_data: TilerData):
    body = {
        "collections": [COLLECTION],
        "datetime": "2023-06-01T00:00:00Z/2023-06-30T23:59:59Z",
        "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 100]},
        "filter-lang": "cql2-json",
    }
    registered = client.post("/searches/register", json=body)
    assert registered.status_code == 200, registered.text
    search_id = registered.json()["id"]
    assert {link["rel"] for link in registered.json()["links"]} >= {"tilejson", "wmts"}

    base = f"/searches/{search_id}"
    tile = client.get(f"{base}/tiles/WebMercatorQuad/{CENTRE.z}/{CENTRE.x}/{CENTRE.y}.png")
    assert tile.status_code == 200
    assert_legend_pixels(tile.content, [tiler_data.arrays["b"], tiler_data.arrays["a"]], CENTRE)
    assert client.get(f"{base}/info").json()["search"]["hash"] == search_id
    tilejson = client.get(f"{base}/WebMercatorQuad/tilejson.json").json()
    assert tilejson["tiles"][0].startswith(f"http://testserver{base}/tiles/")
    assert client.get(f"{base}/WMTSCapabilities.xml").status_code == 200
    listed = client.get("/searches/").json()["searches"]
    assert search_id in {s["search"]["hash"] for s in listed}

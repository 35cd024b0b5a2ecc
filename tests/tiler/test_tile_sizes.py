"""Tiles are 256 px unless asked otherwise (GDAL's XYZ, QGIS, Leaflet and OpenLayers expect
it), 512 px with ``@2x`` or ``tilesize=512``, and every TileJSON says its size in ``tileSize``
and asks its template for that size."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.tiler.conftest import COLLECTION, TilerData
from tests.tiler.pixels import cog_centre, decode_png, expected_classes, legend_rgba, tile_for

pytestmark = pytest.mark.integration
CENTRE = tile_for(*cog_centre(), 14)


def item_base(data: TilerData) -> str:
    return f"/collections/{COLLECTION}/items/{data.item_id('a')}"


def assert_mask_at(content: bytes, data: TilerData, size: int) -> None:
    """A ``size`` px tile of CENTRE showing item a in legend colours wherever certain."""
    rgba = decode_png(content)
    assert rgba.shape == (4, size, size)
    classes, certain = expected_classes([data.arrays["a"]], CENTRE, size=size)
    assert certain.mean() > 0.8
    assert np.array_equal(rgba[:, certain], legend_rgba(classes)[:, certain])


@pytest.mark.parametrize(
    ("query", "size"), [("", 256), ("?tilesize=512", 512), ("?tilesize=256", 256)]
)
@pytest.mark.parametrize("kind", ["item", "mosaic"])
def test_tilejson_templates_ask_for_the_tile_size_they_announce(
    client: TestClient, tiler_data: TilerData, query: str, size: int, kind: str
):
    base = item_base(tiler_data) if kind == "item" else f"/collections/{COLLECTION}"
    response = client.get(f"{base}/WebMercatorQuad/tilejson.json{query}")
    assert response.status_code == 200, response.text
    tilejson = response.json()
    assert tilejson["tileSize"] == size
    [template] = tilejson["tiles"]
    assert parse_qs(urlsplit(template).query)["tilesize"] == [str(size)]
    if kind == "item":
        url = template.format(z=CENTRE.z, x=CENTRE.x, y=CENTRE.y)
        tile = client.get(url.removeprefix("http://testserver"))
        assert tile.status_code == 200
        assert_mask_at(tile.content, tiler_data, size)


@pytest.mark.parametrize(("suffix", "size"), [("", 256), ("@1x", 256), ("@2x", 512)])
def test_item_tiles_are_256_px_and_512_at_2x(
    client: TestClient, tiler_data: TilerData, suffix: str, size: int
):
    for ext in (".png", ""):
        path = f"{item_base(tiler_data)}/tiles/WebMercatorQuad/{CENTRE.z}/{CENTRE.x}/{CENTRE.y}"
        response = client.get(f"{path}{suffix}{ext}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        assert_mask_at(response.content, tiler_data, size)


def test_mosaic_tiles_at_2x_are_512_px(client: TestClient):
    path = f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{CENTRE.z}/{CENTRE.x}/{CENTRE.y}"
    response = client.get(f"{path}@2x.png", params={"datetime": "2023-06-01/2023-06-30"})
    assert response.status_code == 200, response.text
    assert decode_png(response.content).shape == (4, 512, 512)


@pytest.mark.parametrize("suffix", ["@0x.png", "@5x.png", "@9x"])
def test_a_scale_outside_1_to_4_is_a_400(client: TestClient, tiler_data: TilerData, suffix: str):
    path = f"{item_base(tiler_data)}/tiles/WebMercatorQuad/{CENTRE.z}/{CENTRE.x}/{CENTRE.y}"
    response = client.get(path + suffix)
    assert response.status_code == 400
    assert "scale" in response.json()["detail"]

"""Point queries and AOI statistics match counts taken straight from the COGs; the legend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from rasterio.features import geometry_mask
from rasterio.transform import from_origin
from rasterio.warp import transform, transform_geom

from catalog.legend import LEGEND
from tests.factories import UTM32_ORIGIN
from tests.tiler.conftest import COLLECTION, JUNE, TilerData
from tests.tiler.pixels import class_at

pytestmark = pytest.mark.integration


def lonlat(row: float, col: float) -> tuple[float, float]:
    """WGS84 position of a fractional position in the test masks' grid."""
    xs, ys = transform(
        "EPSG:32632", "EPSG:4326", [UTM32_ORIGIN[0] + col * 10], [UTM32_ORIGIN[1] - row * 10]
    )
    return xs[0], ys[0]


def polygon(corners: list[tuple[float, float]]) -> dict[str, Any]:
    """A WGS84 polygon through grid positions (row, col)."""
    ring = [list(lonlat(r, c)) for r, c in corners]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def expected_counts(layer: np.ndarray, geometry: dict[str, Any], pad: int = 100) -> np.ndarray:
    """Pixels of each class whose centre is inside the polygon; outside the raster is no data."""
    padded = np.pad(layer, pad)
    grid = from_origin(UTM32_ORIGIN[0] - pad * 10, UTM32_ORIGIN[1] + pad * 10, 10, 10)
    shape = transform_geom("EPSG:4326", "EPSG:32632", geometry)
    inside = geometry_mask([shape], padded.shape, grid, invert=True)
    return np.bincount(padded[inside], minlength=6)


@pytest.mark.parametrize(
    ("row", "col", "names"),
    [
        (300.5, 100.5, ["a"]),  # b's footprint is its right half only
        (300.5, 400.5, ["b", "a"]),
        (10.5, 10.5, ["a"]),  # a's no-data corner
        (200.5, 270.5, ["b", "a"]),
    ],
)
def test_point_gives_the_class_of_every_item_newest_first(
    client: TestClient, tiler_data: TilerData, row: float, col: float, names: list[str]
):
    lon, lat = lonlat(row, col)
    response = client.get(f"/collections/{COLLECTION}/point/{lon},{lat}", params={"datetime": JUNE})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["truncated"] is False
    assert [i["id"] for i in answer["items"]] == [tiler_data.item_id(n) for n in names]
    for item, name in zip(answer["items"], names, strict=True):
        value = class_at(tiler_data.arrays[name], lon, lat)
        assert item["value"] == value
        assert item["name"] == LEGEND[value].name
        assert item["color"] == (LEGEND[value].color or None)
        assert item["eo:cloud_cover"] == tiler_data.items[name]["properties"]["eo:cloud_cover"]
        assert item["links"][0]["href"] == (
            f"https://stac.example.test/api/collections/{COLLECTION}/items/{item['id']}"
        )


def test_point_follows_the_mosaic_order_and_filter(client: TestClient, tiler_data: TilerData):
    lon, lat = lonlat(300.5, 400.5)
    cloud = {n: tiler_data.items[n]["properties"]["eo:cloud_cover"] for n in ("a", "b")}
    clearest = min(cloud, key=cloud.__getitem__)
    url = f"/collections/{COLLECTION}/point/{lon},{lat}"
    least = client.get(url, params={"datetime": JUNE, "order": "least-cloudy"}).json()
    assert least["items"][0]["id"] == tiler_data.item_id(clearest)
    threshold = sum(cloud.values()) / 2
    only = client.get(url, params={"datetime": JUNE, "filter": f"eo:cloud_cover<{threshold}"})
    assert [i["id"] for i in only.json()["items"]] == [tiler_data.item_id(clearest)]


def test_point_outside_every_item_is_an_empty_list(client: TestClient):
    response = client.get(f"/collections/{COLLECTION}/point/2.35,48.85", params={"datetime": JUNE})
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize(
    "corners",
    [
        [(100, 100), (120, 380), (300, 450), (420, 300), (350, 120)],  # inside the raster
        [(-40, 200), (-40, 300), (60, 330), (60, 180)],  # crosses the top edge
    ],
)
def test_aoi_statistics_match_counts_from_the_cog(
    client: TestClient, tiler_data: TilerData, corners: list[tuple[float, float]]
):
    geometry = polygon(corners)
    feature = {"type": "Feature", "geometry": geometry, "properties": {"name": "field"}}
    response = client.post(
        f"/collections/{COLLECTION}/statistics", params={"datetime": JUNE}, json=feature
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [i["id"] for i in answer["items"]] == [tiler_data.item_id("b"), tiler_data.item_id("a")]
    for item, name in zip(answer["items"], ("b", "a"), strict=True):
        expected = expected_counts(tiler_data.arrays[name], geometry)
        counts = {c["value"]: c["count"] for c in item["classes"]}
        assert counts == {v: int(expected[v]) for v in range(6)}
        assert item["pixels"] == int(expected.sum())
        shares = {c["name"]: c["percentage"] for c in item["classes"]}
        assert shares["clear"] == pytest.approx(100 * expected[1] / expected.sum(), abs=1e-3)
        assert sum(shares.values()) == pytest.approx(100, abs=1e-2)
        assert item["valid_percentage"] == pytest.approx(
            100 * (1 - expected[0] / expected.sum()), abs=1e-3
        )


def test_aoi_statistics_take_a_bare_polygon(client: TestClient, tiler_data: TilerData):
    geometry = polygon([(200, 200), (200, 260), (260, 260), (260, 200)])
    response = client.post(
        f"/collections/{COLLECTION}/statistics",
        params={"datetime": "2023-06-01"},
        json=geometry,
    )
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert item["id"] == tiler_data.item_id("a")
    assert item["pixels"] == int(expected_counts(tiler_data.arrays["a"], geometry).sum())


def test_legend_lists_values_names_and_colours(client: TestClient):
    response = client.get("/legend")
    assert response.status_code == 200
    classes = response.json()["classes"]
    assert [(c["value"], c["name"], c["color"]) for c in classes] == [
        (c.value, c.name, c.color or None) for c in LEGEND
    ]

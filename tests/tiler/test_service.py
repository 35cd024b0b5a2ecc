"""The service around the tiles: landing page, health, tile grids, the web map's files."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.tiler.conftest import COLLECTION, TilerData, tiler_settings
from tiler import create_app
from tiler.viewer import missing_vendor_files

pytestmark = pytest.mark.integration


def test_landing_health_and_grids(client: TestClient):
    landing = client.get("/").json()
    assert {link["rel"] for link in landing["links"]} >= {"map", "legend", "service-desc"}
    health = client.get("/healthz").json()
    assert health["database_online"] is True
    grids = client.get("/tileMatrixSets").json()["tileMatrixSets"]
    assert {g["id"] for g in grids} == {
        "WebMercatorQuad",
        "WorldCRS84Quad",
        "EuropeanETRS89_LAEAQuad",
    }
    assert client.get("/api").status_code == 200


def test_web_map_page_config_and_files_come_from_the_tiler(
    client: TestClient, tiler_data: TilerData
):
    assert missing_vendor_files() == [], "run scripts/build-web.sh"
    page = client.get("/viewer")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="static/vendor/maplibre-gl.js"' in page.text  # relative: works under a prefix
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for name in ("vendor/maplibre-gl.js", "vendor/maplibre-gl.css", "viewer.js", "viewer.css"):
        assert client.get(f"/static/{name}").status_code == 200
    config = client.get("/viewer/config.json").json()
    assert config["api_url"] == "https://stac.example.test/api"
    by_id = {c["id"]: c for c in config["collections"]}
    assert by_id[COLLECTION]["latest"]["id"] == tiler_data.item_id("traversal")  # July 3rd
    assert [c["value"] for c in config["legend"]] == [0, 1, 2, 3, 4, 5]


def test_links_follow_the_root_path(tiler_data: TilerData):
    app = create_app(tiler_settings(tiler_data, root_path="/maps/masks"), tiler_data.database)
    with TestClient(app) as client:
        for path in ("/maps/masks/", "/"):  # behind a proxy that strips the prefix, or not
            landing = client.get(path)
            assert landing.status_code == 200
            assert landing.json()["links"][0]["href"].startswith("http://testserver/maps/masks/")
        tilejson = client.get(
            f"/collections/{COLLECTION}/WebMercatorQuad/tilejson.json",
            params={"datetime": "2023-06-01"},
        ).json()
        assert tilejson["tiles"][0].startswith(
            f"http://testserver/maps/masks/collections/{COLLECTION}/tiles/WebMercatorQuad/"
        )
        assert client.get("/static/viewer.js").status_code == 200
        assert client.get("/maps/masks/static/viewer.js").status_code == 200

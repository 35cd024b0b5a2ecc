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


def test_security_headers_on_every_answer_and_a_policy_on_each_page(client: TestClient):
    for path in ("/", "/legend", "/collections/nope/WMTSCapabilities.xml", "/static/viewer.js"):
        assert client.get(path).headers["x-content-type-options"] == "nosniff", path
        assert "content-security-policy" not in client.get(path).headers
    viewer = client.get("/viewer").headers["content-security-policy"]
    assert "script-src 'self'" in viewer and "unsafe-inline" not in viewer
    assert "worker-src blob:" in viewer  # MapLibre's workers (the browser test loads the map)
    docs = client.get("/api.html").headers["content-security-policy"]
    assert "default-src 'self'" in docs


def test_the_web_map_may_load_a_configured_basemap(tiler_data: TilerData):
    settings = tiler_settings(tiler_data, basemap_url="https://tiles.example.org/{z}/{x}/{y}.png")
    with TestClient(create_app(settings, tiler_data.database)) as client:
        policy = client.get("/viewer").headers["content-security-policy"]
    assert "connect-src 'self' https://tiles.example.org" in policy
    assert "img-src 'self' data: blob: https://tiles.example.org" in policy


def test_any_origin_may_read_the_tiles(client: TestClient):
    origin = {"Origin": "https://map.example.org"}
    assert client.get("/legend", headers=origin).headers["access-control-allow-origin"] == "*"
    ask = {**origin, "Access-Control-Request-Method": "POST"}
    post = client.options(f"/collections/{COLLECTION}/statistics", headers=ask)
    assert post.status_code == 200
    assert "If-None-Match" in post.headers["access-control-allow-headers"]
    for method, headers in (("DELETE", ""), ("POST", "authorization")):
        refused = client.options(
            "/legend", headers={**ask, "Access-Control-Request-Method": method,
                                "Access-Control-Request-Headers": headers}
        )  # fmt: skip
        assert refused.status_code == 400, (method, headers)


def test_limits_and_timeouts_are_answered_in_json(tiler_data: TilerData):
    settings = tiler_settings(tiler_data, max_body_bytes=2048, max_query_string_bytes=512)
    with TestClient(create_app(settings, tiler_data.database)) as client:
        ring = [[10 + i / 1000, 47.8] for i in range(200)] + [[10, 47.8]]
        big = client.post(
            f"/collections/{COLLECTION}/statistics",
            params={"datetime": "2023-06-01"},
            json={"type": "Polygon", "coordinates": [ring]},
        )
        assert big.status_code == 413
        assert "KAPPACAT_TILER_MAX_BODY_BYTES" in big.json()["detail"]
        long = client.get("/legend", params={"x": "y" * 600})
        assert long.status_code == 414
        assert "KAPPACAT_TILER_MAX_QUERY_STRING_BYTES" in long.json()["detail"]
    settings = tiler_settings(tiler_data, statement_timeout_s=0.001, lookup_cache_ttl=0)
    with TestClient(create_app(settings, tiler_data.database)) as client:
        slow = client.get(
            f"/collections/{COLLECTION}/point/10.37,47.82", params={"datetime": "2023-06-01"}
        )
        assert slow.status_code == 503
        assert "KAPPACAT_TILER_STATEMENT_TIMEOUT_S" in slow.json()["detail"]

"""The STAC API's boundary: keys, CORS, security headers, request limits, atomic writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from catalog.collections import L1C, L2A
from catalog_api.app import create_app
from catalog_api.settings import ApiSettings
from tests.catalog.api_support import API_KEY, api_client

pytestmark = pytest.mark.integration

KEY = {"X-API-Key": API_KEY}
READER = "https://map.example.org"
WRITER = "https://admin.example.org"


@pytest.fixture
def writer(database: Any) -> Iterator[TestClient]:
    """The app with an API key and a write origin, over a fresh database."""
    with api_client(database, api_keys=API_KEY, cors_write_origins=WRITER) as client:
        yield client


def an_item(client: TestClient, item_id: str) -> dict[str, Any]:
    """A valid item for the L1C collection, made from a collection's extent."""
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": item_id,
        "geometry": {"type": "Point", "coordinates": [10.0, 47.8]},
        "bbox": [10.0, 47.8, 10.0, 47.8],
        "properties": {"datetime": "2023-06-01T10:30:00Z"},
        "assets": {},
        "links": [],
    }


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "", "Authorization": f"Bearer {API_KEY}"},  # an empty key hid the token
        {"X-API-Key": "stale", "Authorization": f"Bearer {API_KEY}"},
        {"X-API-Key": API_KEY, "Authorization": "Bearer stale"},
        {"Authorization": f"bearer  {API_KEY} "},
    ],
)
def test_a_valid_credential_wins_whatever_else_is_sent(writer: TestClient, headers):
    response = writer.post(f"/collections/{L1C}/items", json=an_item(writer, "k1"), headers=headers)
    assert response.status_code == 201, response.text


def test_no_valid_credential_is_refused(writer: TestClient):
    for headers in ({"X-API-Key": ""}, {"Authorization": "Bearer "}, {"Authorization": API_KEY}):
        response = writer.post(f"/collections/{L1C}/items", json={}, headers=headers)
        assert response.status_code == 401, headers


def preflight(client: TestClient, origin: str, method: str, headers: str = "") -> Any:
    request = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request["Access-Control-Request-Headers"] = headers
    return client.options("/collections/x/items/y", headers=request)


def test_any_origin_may_read_only_write_origins_may_write(writer: TestClient):
    search = writer.post("/search", json={}, headers={"Origin": READER})
    assert search.headers["access-control-allow-origin"] == "*"
    assert preflight(writer, READER, "POST", "content-type").status_code == 200
    for method, headers in (("PUT", ""), ("DELETE", ""), ("POST", "x-api-key"),
                            ("POST", "authorization")):  # fmt: skip
        refused = preflight(writer, READER, method, headers)
        assert refused.status_code == 400, (method, headers)  # the browser does not send it
        assert refused.text.startswith("Disallowed CORS")
        allowed = preflight(writer, WRITER, method, headers)
        assert allowed.status_code == 200, (method, headers)
        assert allowed.headers["access-control-allow-origin"] == WRITER


def test_every_answer_is_nosniff_and_the_docs_page_has_a_policy(writer: TestClient):
    for path in ("/", "/search", "/collections/nope"):
        assert writer.get(path).headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in writer.get(path).headers  # JSON needs none
    docs = writer.get("/api.html")
    assert docs.headers["x-content-type-options"] == "nosniff"
    policy = docs.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'self'" in policy


def test_bodies_and_query_strings_over_the_limits_are_refused_before_parsing(database: Any):
    with api_client(database, max_body_bytes=4096, max_query_string_bytes=512) as api:
        body = {"filter": {"op": "in", "args": [{"property": "id"}, ["x" * 50] * 100]}}
        big = api.post("/search", json=body)
        assert big.status_code == 413
        assert big.json()["code"] == "BodyTooLarge"
        assert "KAPPACAT_API_MAX_BODY_BYTES" in big.json()["description"]
        long = api.get("/search", params={"ids": ",".join(["x" * 50] * 20)})
        assert long.status_code == 414
        assert "KAPPACAT_API_MAX_QUERY_STRING_BYTES" in long.json()["description"]
        assert api.post("/search", json={"limit": 1}).status_code == 200

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"ids": ['
            for _ in range(200):
                yield b'"xxxxxxxxxxxxxxxxxxxxxxxxx",'
            yield b'"x"]}'

        streamed = api.post(
            "/search", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["code"] == "BodyTooLarge"


def test_a_caller_with_the_key_may_send_larger_bodies(database: Any):
    with api_client(database, api_keys=API_KEY, max_body_bytes=2048) as api:
        item = an_item(api, "big")
        item["properties"]["description"] = "x" * 4000
        assert api.post(f"/collections/{L1C}/items", json=item).status_code == 413
        assert api.post(f"/collections/{L1C}/items", json=item, headers=KEY).status_code == 201
        item["properties"]["description"] = "x" * 20_000_000
        huge = api.post(f"/collections/{L1C}/items", json=item, headers=KEY)
        assert huge.status_code == 413
        assert "KAPPACAT_API_MAX_WRITE_BODY_BYTES" in huge.json()["description"]


def test_a_query_over_the_statement_timeout_is_a_503_with_a_json_body(database: Any):
    with api_client(database, statement_timeout_s=0.001) as api:
        slow = api.post("/search", json={"filter": {"op": "s_intersects", "args": [
            {"property": "geometry"},
            {"type": "Polygon", "coordinates": [[[0, 0], [50, 0], [50, 60], [0, 60], [0, 0]]]},
        ]}, "limit": 1000})  # fmt: skip
        assert slow.status_code == 503, slow.text
        assert slow.json()["code"] == "StatementTimeout"
        assert "KAPPACAT_API_STATEMENT_TIMEOUT_S" in slow.json()["description"]


MALFORMED_WRITES = [
    ("POST", f"/collections/{L1C}/items", None),
    ("PUT", f"/collections/{L1C}/items/x", None),
    ("PATCH", f"/collections/{L1C}/items/x", None),
    ("PUT", f"/collections/{L1C}", None),
    ("PATCH", f"/collections/{L1C}", None),
    ("PATCH", f"/collections/{L1C}", [{"op": "replace", "path": "/nope/deeper", "value": 1}]),
    ("PATCH", f"/collections/{L1C}", [{"op": "remove", "path": "/properties/foo"}]),
    ("PATCH", f"/collections/{L1C}", {"id": None}),
    ("PATCH", f"/collections/{L1C}", {"id": "another"}),
    ("PATCH", f"/collections/{L1C}", {"extent": None}),
]


@pytest.mark.parametrize(("method", "path", "body"), MALFORMED_WRITES)
def test_malformed_writes_are_400s_and_change_nothing(writer: TestClient, method, path, body):
    before = writer.get(f"/collections/{L1C}").json()
    response = writer.request(method, path, json=body, headers=KEY)
    assert response.status_code == 400, response.text
    assert response.json()["description"]
    assert writer.get(f"/collections/{L1C}").json() == before


def test_malformed_searches_and_collection_queries_are_400s(writer: TestClient):
    for body in ("[]", '"x"', "5", "null", "[null, null]"):
        response = writer.post(
            "/search", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, body
        assert "must be a JSON object" in response.json()["description"]
    for query in ("{not json", "[1]", '"x"'):
        response = writer.get("/collections", params={"query": query})
        assert response.status_code == 400, query
        assert response.json()["code"] == "InvalidQuery"
    deep = "(" * 1600 + "eo:cloud_cover < 30" + ")" * 1600  # segfaulted the process
    for path in ("/collections", "/search", f"/collections/{L1C}/items"):
        response = writer.get(path, params={"filter": deep})
        assert response.status_code == 400
        assert response.json()["code"] == "FilterTooComplex"


def test_an_id_outside_latin_1_is_created_once_with_an_encoded_location(writer: TestClient):
    item_id = "S2-€-東京"
    created = writer.post(f"/collections/{L1C}/items", json=an_item(writer, item_id), headers=KEY)
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith("/items/S2-%E2%82%AC-%E6%9D%B1%E4%BA%AC")
    again = writer.post(f"/collections/{L1C}/items", json=an_item(writer, item_id), headers=KEY)
    assert again.status_code == 409
    collection = writer.get(f"/collections/{L2A}").json()
    created = writer.post(
        "/collections", json={**collection, "id": "östra-€", "links": []}, headers=KEY
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith("/collections/%C3%B6stra-%E2%82%AC")


def test_a_write_whose_answer_fails_leaves_nothing_behind(database: Any, monkeypatch):
    """Faults injected after the database write: the 500 must not leave a committed item."""
    from stac_fastapi.pgstac.models import links

    async def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("link building failed")

    app = create_app(ApiSettings(api_keys=API_KEY), database)
    url = f"/collections/{L1C}/items"
    with TestClient(app, raise_server_exceptions=False) as client:
        monkeypatch.setattr(links.ItemLinks, "get_links", broken)
        failed = client.post(url, json=an_item(client, "half"), headers=KEY)
        assert failed.status_code == 500
        assert failed.json()["code"] == "InternalServerError"
        monkeypatch.undo()
        assert client.get(f"{url}/half").status_code == 404
        assert client.post(url, json=an_item(client, "half"), headers=KEY).status_code == 201


def test_bulk_items_are_validated_one_by_one_and_documented(writer: TestClient):
    good, bad = an_item(writer, "bulk-1"), {"type": "Feature", "id": "bulk-2"}
    response = writer.post(
        f"/collections/{L1C}/bulk_items",
        json={"items": {"bulk-1": good, "bulk-2": bad}},
        headers=KEY,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["received"], answer["success"]) == (2, 1)
    assert [e["id"] for e in answer["errors"]] == ["bulk-2"]
    assert writer.get(f"/collections/{L1C}/items/bulk-1").status_code == 200
    assert writer.get(f"/collections/{L1C}/items/bulk-2").status_code == 404
    assert writer.post(f"/collections/{L1C}/bulk_items", headers=KEY).status_code == 400
    operation = writer.get("/api").json()["paths"]["/collections/{collection_id}/bulk_items"]
    assert [p["name"] for p in operation["post"]["parameters"]] == ["collection_id"]


@pytest.mark.filterwarnings("ignore:GeometryCollection should not be used:UserWarning")
def test_a_geometry_postgis_cannot_write_back_is_refused(writer: TestClient):
    """A GeometryCollection inside another was stored, then every search of its collection
    failed with a 500 (PostGIS cannot write it as GeoJSON)."""
    nested = {
        "type": "GeometryCollection",
        "geometries": [{"type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [10.0, 47.8]}]}],
    }  # fmt: skip
    item = {**an_item(writer, "nested"), "geometry": nested}
    url = f"/collections/{L1C}/items"
    for body in (item, {"type": "FeatureCollection", "features": [item]}):
        response = writer.post(url, json=body, headers=KEY)
        assert response.status_code == 400, response.text
        assert "GeometryCollection inside" in response.json()["description"]
    assert writer.get(f"{url}/nested").status_code == 404  # nothing was stored
    assert writer.post(url, json=an_item(writer, "flat"), headers=KEY).status_code == 201
    replaced = writer.put(f"{url}/flat", json={**item, "id": "flat"}, headers=KEY)
    assert replaced.status_code == 400, replaced.text
    assert "GeometryCollection inside" in replaced.json()["description"]
    patched = writer.patch(f"{url}/flat", json={"geometry": nested}, headers=KEY)
    assert patched.status_code == 400
    assert "GeometryCollection inside" in patched.json()["description"]
    assert writer.get(url).status_code == 200

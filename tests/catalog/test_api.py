"""The STAC API in-process: each behaviour KappaCat adds to stac-fastapi-pgstac, one test each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from starlette.testclient import TestClient

from catalog.collections import L1C, L2A
from catalog.properties import SEMI_TRANSPARENT_RULE
from catalog.queryables import upsert_queryables
from catalog.stac_validation import StacValidator
from tests.catalog.api_cases import MALFORMED, QUERIES, WRITES
from tests.catalog.api_support import (
    API_KEY,
    api_client,
    ids_of,
    ids_where,
    loaded_database,
    lon_of,
    make_items,
)
from tests.database import drop_database
from tests.servers import serve

pytestmark = pytest.mark.integration

GEOJSON = "application/geo+json"
COUNT = 40


@pytest.fixture(scope="module")
def items(mask_cog: tuple[Path, np.ndarray]) -> list[dict[str, Any]]:
    """The published items (all in the L1C collection)."""
    return make_items(*mask_cog, COUNT)


@pytest.fixture(scope="module")
def catalogue(
    pg_admin_url: str, template_database: str, items: list[dict[str, Any]], validator: StacValidator
) -> Iterator[Any]:
    """A database with the items, shared by the read-only tests of this module."""
    with loaded_database(pg_admin_url, template_database, items, validator) as database:
        yield database


@pytest.fixture(scope="module")
def api(catalogue: Any) -> Iterator[TestClient]:
    """The app over the loaded catalogue, without write routes."""
    with api_client(catalogue) as client:
        yield client


# ---- landing page, conformance, OpenAPI, health, CORS ---------------------------------------


def test_landing_page_names_the_catalogue_and_links_everything(api: TestClient) -> None:
    body = api.get("/").json()
    assert (body["id"], body["title"], body["stac_version"]) == ("kappacat", "KappaCat", "1.1.0")
    assert "Sentinel-2" in body["description"]
    rels = {(link["rel"], link.get("method")) for link in body["links"]}
    for rel in ("self", "root", "data", "conformance", "service-desc", "service-doc"):
        assert (rel, None) in rels
    assert {("search", "GET"), ("search", "POST")} <= rels
    children = {link["href"] for link in body["links"] if link["rel"] == "child"}
    assert children == {f"http://testserver/collections/{c}" for c in (L1C, L2A)}


def test_conformance_declares_every_class_we_validate(api: TestClient) -> None:
    declared = set(api.get("/conformance").json()["conformsTo"])
    for suffix in (
        "core", "collections", "ogcapi-features", "item-search", "item-search#fields",
        "item-search#query", "ogcapi-features#fields", "ogcapi-features#query",
    ):  # fmt: skip
        assert f"https://api.stacspec.org/v1.0.0/{suffix}" in declared
    for sort in ("item-search#sort", "ogcapi-features#sort"):
        assert f"https://api.stacspec.org/v1.1.0/{sort}" in declared
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in declared
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json" in declared
    assert not any("transaction" in c for c in declared)  # no keys, no write routes


def test_openapi_document_is_served_at_api(api: TestClient) -> None:
    doc = api.get("/api")
    assert doc.status_code == 200
    assert doc.json()["info"]["title"] == "KappaCat"
    assert {"/search", "/collections/{collection_id}/items"} <= set(doc.json()["paths"])
    limit = next(p for p in doc.json()["paths"]["/search"]["get"]["parameters"]
                 if p["name"] == "limit")  # fmt: skip
    assert {"type": "integer", "exclusiveMinimum": 0, "maximum": 1000} in limit["schema"]["anyOf"]
    assert api.get("/api.html").status_code == 200


def test_health_checks_the_database(pg_admin_url: str, database: Any) -> None:
    with api_client(database) as client:
        up = client.get("/_mgmt/health")
        assert up.status_code == 200 and up.json()["pgstac"]["pgstac_version"] == "0.10.0"
        drop_database(pg_admin_url, database.url.rsplit("/", 1)[1])
        down = client.get("/_mgmt/health")
        assert down.status_code == 503 and down.json()["status"] == "DOWN"
        search = client.get("/search")
        assert search.status_code == 503 and search.json()["code"] == "DatabaseUnavailable"


def test_cors_preflight_allows_browsers(api: TestClient) -> None:
    response = api.options(
        "/search",
        headers={"Origin": "https://map.example.org", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


def test_links_follow_the_proxy_root_path_and_forwarded_host(catalogue: Any) -> None:
    env = {"KAPPACAT_DATABASE_URL": catalogue.url, "KAPPACAT_API_ROOT_PATH": "/stac"}
    with serve("api", env, "/_mgmt/health") as base:
        # A reverse proxy strips /stac before passing the request on.
        links = {link["rel"]: link["href"] for link in httpx.get(base + "/").json()["links"]}
        assert links["self"] == f"{base}/stac/"
        assert links["data"] == f"{base}/stac/collections"
        assert links["service-desc"] == f"{base}/stac/api"
        forwarded = httpx.get(
            base + "/search", params={"limit": 1}, headers={"Forwarded": "proto=https;host=a.eu"}
        ).json()
        assert {link["href"] for link in forwarded["links"] if link["rel"] == "self"} == {
            "https://a.eu/stac/search"
        }


# ---- fields --------------------------------------------------------------------------------


def test_fields_include_returns_identity_and_the_field_as_geojson(api: TestClient) -> None:
    response = api.get("/search", params={"fields": "properties.eo:cloud_cover", "limit": 1})
    assert response.headers["content-type"] == GEOJSON
    item = response.json()["features"][0]
    assert set(item) == {"type", "stac_version", "id", "collection", "properties"}
    assert set(item["properties"]) == {"eo:cloud_cover"}


def test_fields_exclude_alone_drops_only_that_field(api: TestClient) -> None:
    for response in (
        api.get("/search", params={"fields": "-geometry", "limit": 1}),
        api.post("/search", json={"fields": {"exclude": ["geometry"]}, "limit": 1}),
    ):
        item = response.json()["features"][0]
        assert "geometry" not in item and "eo:cloud_cover" in item["properties"]
        assert response.headers["content-type"] == GEOJSON


def test_fields_exclude_with_empty_include_is_the_default_set_minus_it(api: TestClient) -> None:
    for include in ([], None):
        body = {"fields": {"include": include, "exclude": ["geometry"]}, "limit": 1}
        item = api.post("/search", json=body).json()["features"][0]
        assert "geometry" not in item and set(item["properties"]) == {"datetime"}
        assert {"id", "bbox", "assets", "links"} <= set(item)


def test_fields_include_of_a_property_beats_excluding_properties(
    api: TestClient, items: list[dict[str, Any]]
) -> None:
    body = {"fields": {"include": ["eo:cloud_cover"], "exclude": ["properties"]}, "limit": 1}
    item = api.post("/search", json=body).json()["features"][0]
    source = {i["id"]: i for i in items}[item["id"]]
    assert item["properties"] == {
        "eo:cloud_cover": pytest.approx(source["properties"]["eo:cloud_cover"])
    }
    assert "geometry" not in item


def test_empty_fields_give_minimal_valid_items(api: TestClient, validator: StacValidator) -> None:
    for response in (
        api.get(f"/collections/{L1C}/items", params={"fields": "", "limit": 3}),
        api.post("/search", json={"fields": {}, "limit": 3}),
    ):
        features = response.json()["features"]
        assert len(features) == 3, response.text
        for item in features:
            assert set(item["properties"]) == {"datetime"}
            assert validator.errors(item) == []


def test_fields_null_is_refused(api: TestClient) -> None:
    response = api.post("/search", json={"fields": None})
    assert response.status_code == 400 and "fields" in response.json()["description"]


# ---- sort ----------------------------------------------------------------------------------


def test_post_sort_with_one_collection_given_as_a_string(
    api: TestClient, items: list[dict[str, Any]]
) -> None:
    for direction in ("asc", "desc"):
        body = {"collections": L1C, "limit": 100, "sortby": [
            {"field": "properties.datetime", "direction": direction}]}  # fmt: skip
        dates = [
            f["properties"]["datetime"] for f in api.post("/search", json=body).json()["features"]
        ]
        assert len(dates) == COUNT and dates == sorted(dates, reverse=direction == "desc")


def test_sort_by_a_queryable_property(api: TestClient) -> None:
    response = api.get("/search", params={"sortby": "-eo:cloud_cover,id", "limit": 100})
    covers = [f["properties"]["eo:cloud_cover"] for f in response.json()["features"]]
    assert covers == sorted(covers, reverse=True)


def test_sort_by_an_unknown_field_is_refused(api: TestClient) -> None:
    response = api.get("/search", params={"sortby": "properties.nope"})
    assert response.status_code == 400 and response.json()["code"] == "InvalidSort"
    assert "eo:cloud_cover" in response.json()["description"]


# ---- query and filter ----------------------------------------------------------------------


@pytest.mark.parametrize(("prop", "ops", "expected"), QUERIES)
def test_query_operators_get_and_post(
    api: TestClient, items: list[dict[str, Any]], prop: str, ops: dict[str, Any], expected: Any
) -> None:
    want = ids_where(items, expected)
    query = {prop: ops}
    got_get = ids_of(api.get("/search", params={"query": json.dumps(query), "limit": 100}))
    got_post = ids_of(api.post("/search", json={"query": query, "limit": 100}))
    got_items = ids_of(
        api.get(f"/collections/{L1C}/items", params={"query": json.dumps(query), "limit": 100})
    )
    assert set(got_get) == set(got_post) == set(got_items) == want


def test_filter_cql2_text_json_and_combined_with_query(
    api: TestClient, items: list[dict[str, Any]]
) -> None:
    want = ids_where(items, lambda p: p["eo:cloud_cover"] < 60 and p["platform"] == "sentinel-2b")
    text = "eo:cloud_cover < 60 AND platform = 'sentinel-2b'"
    cql2 = {"op": "and", "args": [
        {"op": "<", "args": [{"property": "eo:cloud_cover"}, 60]},
        {"op": "=", "args": [{"property": "platform"}, "sentinel-2b"]}]}  # fmt: skip
    half = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 60]}
    answers = [
        api.get("/search", params={"filter": text, "limit": 100}),
        api.get("/search", params={"filter": json.dumps(cql2), "filter-lang": "cql2-json",
                                   "limit": 100}),
        api.post("/search", json={"filter": cql2, "filter-lang": "cql2-json", "limit": 100}),
        api.post("/search", json={"filter": half, "query": {"platform": {"eq": "sentinel-2b"}},
                                  "limit": 100}),
    ]  # fmt: skip
    for response in answers:
        assert set(ids_of(response)) == want and want


# ---- paging, limits, collection search -----------------------------------------------------


def test_token_pagination_get_and_post_visits_every_item_once(api: TestClient) -> None:
    seen: list[str] = []
    page = api.get("/search", params={"limit": 7, "filter": "eo:cloud_cover > 0"}).json()
    while True:
        seen += [f["id"] for f in page["features"]]
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            break
        page = api.get(nxt[0]["href"]).json()
    assert len(seen) == len(set(seen)) == COUNT

    posted = api.post("/search", json={"limit": 25}).json()
    nxt = next(link for link in posted["links"] if link["rel"] == "next")
    assert nxt["method"] == "POST" and nxt["body"]["limit"] == 25
    rest = api.post(nxt["href"], json=nxt["body"]).json()
    assert len(posted["features"]) + len(rest["features"]) == COUNT


def test_limit_above_the_maximum_gets_the_maximum(catalogue: Any) -> None:
    # STAC API Item Search and OGC API Features: a limit above the advertised maximum "SHALL
    # NOT result in an error"; the server acts as if the maximum was asked for.
    with api_client(catalogue, max_limit=30) as client:
        for response in (
            client.get("/search", params={"limit": 31}),
            client.post("/search", json={"limit": 100_000}),
            client.get(f"/collections/{L1C}/items", params={"limit": 31}),
        ):
            assert len(ids_of(response)) == 30
            assert any(link["rel"] == "next" for link in response.json()["links"])


def test_limit_above_the_maximum_is_refused_when_configured(catalogue: Any) -> None:
    with api_client(catalogue, max_limit=30, refuse_limit_above_max=True) as client:
        assert len(ids_of(client.get("/search", params={"limit": 30}))) == 30
        for response in (
            client.get("/search", params={"limit": 31}),
            client.post("/search", json={"limit": 31}),
            client.get(f"/collections/{L1C}/items", params={"limit": 31}),
            client.get("/collections", params={"limit": 31}),
        ):
            assert response.status_code == 400, response.text
            assert response.json()["code"] == "LimitTooLarge"


def test_collection_search_by_text_and_bbox(api: TestClient) -> None:
    by_text = api.get("/collections", params={"q": "Level-2A"}).json()["collections"]
    assert [c["id"] for c in by_text] == [L2A]
    by_bbox = api.get("/collections", params={"bbox": "-100,-50,-90,-40"}).json()["collections"]
    assert by_bbox == []
    queryables = api.get(f"/collections/{L1C}/queryables").json()["properties"]
    assert queryables["eo:cloud_cover"]["type"] == "number"


def test_collection_search_fields_keep_what_a_collection_needs(api: TestClient) -> None:
    # excluding the id (or everything) still gives collections a client can follow
    for fields in ("-id", "-id,-links", "title", ""):
        response = api.get("/collections", params={"fields": fields})
        assert response.status_code == 200, (fields, response.text)
        collections = response.json()["collections"]
        assert sorted(c["id"] for c in collections) == sorted([L1C, L2A]), fields
        for collection in collections:
            assert any(link["rel"] == "self" for link in collection["links"]), fields


def test_queryables_offer_what_made_class_3(api: TestClient) -> None:
    # what a filter form (STAC Browser, QGIS) offers: class 3's origin can be filtered on
    for path in ("/queryables", f"/collections/{L1C}/queryables"):
        offered = api.get(path).json()["properties"]
        assert offered[SEMI_TRANSPARENT_RULE]["type"] == "string"
        assert "b10-thin-cirrus" in offered[SEMI_TRANSPARENT_RULE]["description"]


def test_queryables_are_registered_once(database: Any) -> None:
    # kappacat migrate (which made the test database) registered them; again changes nothing.
    with psycopg.connect(database.url) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM pgstac.queryables")}
    assert {"eo:cloud_cover", "kappacat:cloud_percentage", "platform"} <= names
    assert upsert_queryables(database.url) == []


def test_search_by_bbox_and_datetime(api: TestClient, items: list[dict[str, Any]]) -> None:
    west = lon_of(3)
    params = {"bbox": f"{west},47.7,{west + 0.1},47.9", "datetime": "2023-06-01T00:00:00Z/..",
              "limit": 100}  # fmt: skip
    assert set(ids_of(api.get("/search", params=params))) == {
        i["id"] for i in items if i["bbox"][0] == west
    }


# ---- malformed requests: 4xx with a JSON body, never 5xx -----------------------------------


@pytest.mark.parametrize(("what", "method", "params", "status"), MALFORMED)
def test_malformed_search_is_a_4xx_with_a_json_body(
    api: TestClient, what: str, method: str, params: dict[str, Any], status: int
) -> None:
    if method == "GET":
        response = api.get("/search", params=params)
    else:
        response = api.post("/search", json=params)
    assert response.status_code == status, f"{what}: {response.text}"
    body = response.json()
    assert body["code"] and body["description"], what


def test_invalid_json_body_unknown_collection_and_item(api: TestClient) -> None:
    bad = api.post("/search", content=b'{"limit": ', headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["description"]
    assert api.get("/collections/nope").json()["code"] == "NotFound"
    assert api.get("/collections/nope/items").status_code == 404
    missing = api.get(f"/collections/{L1C}/items/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["description"]


# ---- transactions: only with keys, only for callers with a key -----------------------------


def test_write_routes_do_not_exist_without_keys(api: TestClient) -> None:
    for method, path in WRITES:
        assert api.request(method, path, json={}).status_code in (404, 405), (method, path)
    assert not any(m in ("put", "delete", "patch") for p in api.get("/api").json()["paths"].values()
                   for m in p)  # fmt: skip


@pytest.fixture
def writer(database: Any) -> Iterator[TestClient]:
    """The app with an API key over a fresh database."""
    with api_client(database, api_keys=API_KEY) as client:
        yield client


def test_write_routes_refuse_callers_without_the_key(writer: TestClient) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        for method, path in WRITES:
            response = writer.request(method, path, json={}, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["code"] == "NotAuthenticated"
            assert response.headers["www-authenticate"] == "Bearer"


def test_item_lifecycle_with_the_key(writer: TestClient, items: list[dict[str, Any]]) -> None:
    key = {"X-API-Key": API_KEY}
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    item = {k: v for k, v in items[0].items() if k not in ("links", "collection")}
    url = f"/collections/{L1C}/items/{item['id']}"

    created = writer.post(f"/collections/{L1C}/items", json=item, headers=key)  # no links
    assert created.status_code == 201 and created.headers["content-type"] == GEOJSON
    assert created.headers["location"] == f"http://testserver{url}"
    assert writer.post(f"/collections/{L1C}/items", json=item, headers=key).status_code == 409

    changed = {**item, "properties": {**item["properties"], "eo:cloud_cover": 1.5}}
    replaced = writer.put(url, json=changed, headers=bearer)
    assert replaced.status_code == 204 and replaced.content == b""
    shown = writer.put(url, json=changed, headers={**key, "Prefer": "return=representation"})
    assert shown.status_code == 200 and shown.json()["properties"]["eo:cloud_cover"] == 1.5
    assert writer.patch(url, json={"properties": {"eo:cloud_cover": 2.5}}, headers=key
                        ).status_code == 204  # fmt: skip
    assert writer.get(url).json()["properties"]["eo:cloud_cover"] == 2.5

    other = f"/collections/{L1C}/items/other"
    assert writer.put(other, json=changed, headers=key).status_code == 400  # id differs
    assert writer.put(other, json={**changed, "id": "other"}, headers=key).status_code == 404

    assert writer.delete(url, headers=key).status_code == 204
    assert writer.delete(url, headers=key).status_code == 204  # gone already: still done
    assert writer.get(url).status_code == 404


def test_collection_create_and_delete_with_the_key(writer: TestClient) -> None:
    key = {"X-API-Key": API_KEY}
    collection = writer.get(f"/collections/{L2A}").json()
    collection = {**collection, "id": "scratch", "links": []}
    created = writer.post("/collections", json=collection, headers=key)
    assert created.status_code == 201
    assert created.headers["location"] == "http://testserver/collections/scratch"
    retitled = {**collection, "title": "Scratch"}
    assert writer.put("/collections/scratch", json=retitled, headers=key).status_code == 204
    assert writer.get("/collections/scratch").json()["title"] == "Scratch"
    assert writer.put(f"/collections/{L1C}", json=retitled, headers=key).status_code == 400
    assert writer.delete("/collections/scratch", headers=key).status_code == 204
    assert writer.get("/collections/scratch").status_code == 404

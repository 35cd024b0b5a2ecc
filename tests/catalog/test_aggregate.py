"""The Aggregation Extension: every answer equals counting what ``/search`` returns, paged to
the end, for many combinations of bbox, intersects, datetime, filter and collections."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from catalog.aggregations import AGGREGATIONS, Kind
from catalog.collections import L1C, L2A
from catalog.cql2 import cql2_json
from catalog.legend import LEGEND
from catalog.properties import CLOUD_COVER, percentage_property
from catalog.stac_validation import StacValidator
from inference.product import MaskResult
from ingest.items import build_mask_item, item_dict
from tests.catalog.api_support import api_client, loaded_database
from tests.factories import product_info

pytestmark = pytest.mark.integration

CONFORMANCE = "https://api.stacspec.org/v0.3.0/aggregation"
TILES = ("32UPU", "32TNT", "33UUP", "31UFQ")
COUNT = 90


def varied_item(cog: Path, data: np.ndarray, index: int, rng: random.Random) -> dict[str, Any]:
    """A mask item of either level, on one of four tiles, at a date from 2022 to 2024, with
    class counts (so cloud cover and class shares) of its own."""
    values, counts = np.unique(data, return_counts=True)
    class_counts = {int(v): int(n) for v, n in zip(values, counts, strict=True)}
    for value in class_counts:
        class_counts[value] = int(class_counts[value] * rng.uniform(0.0, 3.0))
    level = "L2A" if index % 3 == 0 else "L1C"
    when = datetime(2022, 1, 1, 10, 30, tzinfo=UTC) + timedelta(
        days=rng.randrange(3 * 365), minutes=index
    )
    product = dataclasses.replace(
        product_info(index, level=level, when=when, lon=5.0 + rng.randrange(8) * 0.5),
        mgrs_tile=TILES[index % len(TILES)],
    )
    result = MaskResult(
        path=cog,
        product=product,
        class_counts=class_counts,
        model_id="ukis-csmask-6b-l1c",
        model_card={"id": "ukis-csmask-6b-l1c"},
    )
    return item_dict(build_mask_item(result, f"https://example.test/masks/{index}.tif"))


@pytest.fixture(scope="module")
def items(mask_cog: tuple[Path, np.ndarray]) -> list[dict[str, Any]]:
    """The published items, in both collections."""
    rng = random.Random(14)
    return [varied_item(*mask_cog, i, rng) for i in range(COUNT)]


@pytest.fixture(scope="module")
def api(
    pg_admin_url: str, template_database: str, items: list[dict[str, Any]], validator: StacValidator
) -> Iterator[TestClient]:
    """The app over a catalogue holding the items."""
    with (
        loaded_database(pg_admin_url, template_database, items, validator) as database,
        api_client(database, max_limit=50) as client,
    ):
        yield client


# ---- what counting the search results gives ------------------------------------------------


def searched(api: TestClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item ``POST /search`` returns for ``params``, following ``next`` to the end."""
    body: dict[str, Any] | None = {**params, "limit": 50}
    found: list[dict[str, Any]] = []
    while body is not None:
        response = api.post("/search", json=body)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["features"])
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        body = {**body, **nxt[0]["body"]} if nxt else None
    ids = [f["id"] for f in found]
    assert len(ids) == len(set(ids)), "paging repeated items"
    return found


def _when(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))


def _percent_key(value: float) -> str:
    low = min(math.floor(value / 10), 9) * 10
    return f"{low:.1f}-*" if low == 90 else f"{low:.1f}-{low + 10:.1f}"


def _month(when: datetime) -> str:
    return when.strftime("%Y-%m-01T00:00:00Z")


def counted(found: list[dict[str, Any]], name: str) -> Any:
    """The answer of aggregation ``name``, worked out from the items themselves."""
    spec = AGGREGATIONS[name]
    props = [f["properties"] for f in found]
    if spec.kind is Kind.COUNT:
        return len(found)
    if spec.kind in (Kind.DATETIME_MIN, Kind.DATETIME_MAX):
        if not found:
            return None
        pick = min if spec.kind is Kind.DATETIME_MIN else max
        return pick(found, key=_when)["properties"]["datetime"]
    if spec.kind is Kind.DATETIME:
        return dict(Counter(_month(_when(f)) for f in found))
    if spec.kind is Kind.PERCENT:
        return dict(Counter(_percent_key(p[str(spec.field)]) for p in props))
    if name == "collection_frequency":
        return dict(Counter(f["collection"] for f in found))
    return dict(Counter(p[str(spec.field)] for p in props))


def answered(aggregation: dict[str, Any]) -> Any:
    """An aggregation of the response in the shape of :func:`counted`."""
    if "value" in aggregation:
        return aggregation["value"]
    return {b["key"]: b["frequency"] for b in aggregation["buckets"] if b["frequency"]}


# ---- many searches, every aggregation --------------------------------------------------------

FIELD = [5.2, 47.7, 6.4, 47.9]  # a few footprints of the eight
BBOXES: list[dict[str, Any]] = [
    {},
    {"bbox": FIELD},
    {"bbox": [-20.0, 63.0, -19.0, 64.0]},  # Iceland: nothing
    {
        "intersects": {
            "type": "Polygon",
            "coordinates": [[[6.0, 47.82], [7.6, 47.82], [7.6, 47.83], [6.0, 47.83], [6.0, 47.82]]],
        }
    },
]
DATETIMES: list[dict[str, Any]] = [
    {},
    {"datetime": "2023-01-01T00:00:00Z/2023-12-31T23:59:59Z"},
    {"datetime": "../2022-09-30T00:00:00Z"},
]
FILTERS: list[dict[str, Any]] = [
    {},
    {"filter": f'"{CLOUD_COVER}" < 40', "filter-lang": "cql2-text"},
    {
        "filter": {
            "op": ">=",
            "args": [{"property": percentage_property("clear")}, 30],
        },
        "filter-lang": "cql2-json",
    },
    {"filter": "platform = 'sentinel-2a'", "filter-lang": "cql2-text"},
    {"query": {CLOUD_COVER: {"gte": 20}}},
]
COLLECTIONS: list[dict[str, Any]] = [{}, {"collections": [L1C]}, {"collections": [L1C, L2A]}]
CASES = list(itertools.product(BBOXES, DATETIMES, FILTERS, COLLECTIONS))


def as_get(params: dict[str, Any]) -> dict[str, str]:
    """Search parameters as GET query parameters."""
    query: dict[str, str] = {}
    for key, value in params.items():
        if key in ("bbox", "collections", "aggregations"):
            query[key] = ",".join(map(str, value))
        elif isinstance(value, dict):
            query[key] = json.dumps(value)
        else:
            query[key] = value
    if "filter" in params and not isinstance(params["filter"], str):
        query["filter-lang"] = "cql2-json"
    return query


def search_body(params: dict[str, Any]) -> dict[str, Any]:
    """Search parameters as a POST body (CQL2 text made JSON: POST takes CQL2 JSON only)."""
    if isinstance(params.get("filter"), str):
        return {
            **params,
            "filter": cql2_json(params["filter"], "cql2-text"),
            "filter-lang": "cql2-json",
        }
    return params


def test_every_aggregation_equals_counting_the_search_results(api: TestClient) -> None:
    """For each combination the answer is what a client gets by paging through ``/search``;
    GET and POST alternate."""
    names = list(AGGREGATIONS)
    seen_empty = seen_many = 0
    for n, (where, when, what, which) in enumerate(CASES):
        params = {**where, **when, **what, **which}
        body = search_body(params)
        found = searched(api, body)
        seen_empty += not found
        seen_many += len(found) > 10
        if n % 2:
            response = api.post("/aggregate", json={**body, "aggregations": names})
        else:
            response = api.get("/aggregate", params=as_get({**params, "aggregations": names}))
        assert response.status_code == 200, (params, response.text)
        result = response.json()
        assert result["type"] == "AggregationCollection"
        got = {a["name"]: answered(a) for a in result["aggregations"]}
        assert list(got) == names
        for name in names:
            assert got[name] == counted(found, name), (name, params)
    assert seen_empty and seen_many > 10  # the cases are neither all empty nor all tiny


def test_datetime_frequency_per_day_and_year(api: TestClient, items: list[dict[str, Any]]) -> None:
    """``datetime_frequency_interval`` sets the buckets' width; the keys are in order."""
    for interval, key in (
        ("day", lambda w: w.strftime("%Y-%m-%dT00:00:00Z")),
        ("year", lambda w: w.strftime("%Y-01-01T00:00:00Z")),
    ):
        response = api.get(
            "/aggregate",
            params={"aggregations": "datetime_frequency", "datetime_frequency_interval": interval},
        )
        assert response.status_code == 200, response.text
        (aggregation,) = response.json()["aggregations"]
        buckets = aggregation["buckets"]
        assert [b["key"] for b in buckets] == sorted(b["key"] for b in buckets)
        assert {b["data_type"] for b in buckets} == {f"interval_{interval}"}
        assert {b["key"]: b["frequency"] for b in buckets} == dict(
            Counter(key(_when(i)) for i in items)
        )
    years = {b["key"] for b in buckets}
    assert years == {"2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"}


def test_a_collection_aggregates_its_own_items(
    api: TestClient, items: list[dict[str, Any]]
) -> None:
    """``/collections/{id}/aggregate`` (GET and POST) counts that collection only."""
    l2a = [i for i in items if i["collection"] == L2A]
    month = dict(Counter(_month(_when(i)) for i in l2a))
    get = api.get(
        f"/collections/{L2A}/aggregate",
        params={"aggregations": "total_count,datetime_frequency"},
    )
    post = api.post(
        f"/collections/{L2A}/aggregate",
        json={"aggregations": ["total_count", "datetime_frequency"]},
    )
    for response in (get, post):
        assert response.status_code == 200, response.text
        total, frequency = response.json()["aggregations"]
        assert total == {"name": "total_count", "data_type": "integer", "value": len(l2a)}
        assert answered(frequency) == month
    filtered = api.post(
        f"/collections/{L2A}/aggregate",
        json={"aggregations": ["total_count"], "query": {CLOUD_COVER: {"lt": 50}}},
    )
    assert filtered.json()["aggregations"][0]["value"] == sum(
        i["properties"][CLOUD_COVER] < 50 for i in l2a
    )


def test_percentage_buckets_cover_0_to_100(api: TestClient, items: list[dict[str, Any]]) -> None:
    """A percentage frequency has ten buckets, 0-10 to 90 and above, ``from`` inclusive."""
    response = api.get("/aggregate", params={"aggregations": "cloud_cover_frequency"})
    (aggregation,) = response.json()["aggregations"]
    buckets = aggregation["buckets"]
    assert [(b["from"], b["to"]) for b in buckets] == [
        (low, None if low == 90 else low + 10) for low in range(0, 100, 10)
    ]
    assert sum(b["frequency"] for b in buckets) == len(items)
    assert aggregation["overflow"] == 0


def test_one_frequency_per_legend_class(api: TestClient) -> None:
    """``/aggregations`` lists a frequency for each class share property of the legend."""
    response = api.get("/aggregations")
    assert response.status_code == 200, response.text
    listed = {a["name"]: a for a in response.json()["aggregations"]}
    for cls in LEGEND[1:]:
        name = f"{cls.name}_percentage_frequency"
        assert listed[name]["data_type"] == "frequency_distribution"
        assert listed[name]["frequency_distribution_data_type"] == "numeric"
    assert {"total_count", "datetime_frequency", "cloud_cover_frequency"} <= set(listed)
    assert {"grid_code_frequency", "platform_frequency"} <= set(listed)
    for method in ("get", "post"):  # the extension routes both methods
        collection = getattr(api, method)(f"/collections/{L1C}/aggregations")
        assert collection.status_code == 200, collection.text
        assert [a["name"] for a in collection.json()["aggregations"]] == list(listed)
    assert api.post("/aggregations").json()["aggregations"] == response.json()["aggregations"]


def test_landing_page_collections_and_conformance_advertise_it(api: TestClient) -> None:
    """The landing page and each collection link to aggregate and aggregations; the
    conformance class is declared."""
    landing = api.get("/").json()
    rels = {(link["rel"], link.get("method", "GET")): link["href"] for link in landing["links"]}
    assert rels[("aggregate", "GET")] == "http://testserver/aggregate"
    assert rels[("aggregate", "POST")] == "http://testserver/aggregate"
    assert rels[("aggregations", "GET")] == "http://testserver/aggregations"
    assert CONFORMANCE in landing["conformsTo"]
    assert CONFORMANCE in api.get("/conformance").json()["conformsTo"]
    collection = api.get(f"/collections/{L1C}").json()
    hrefs = {link["rel"]: link["href"] for link in collection["links"]}
    assert hrefs["aggregate"] == f"http://testserver/collections/{L1C}/aggregate"
    assert hrefs["aggregations"] == f"http://testserver/collections/{L1C}/aggregations"
    for listed in api.get("/collections").json()["collections"]:
        assert any(link["rel"] == "aggregate" for link in listed["links"]), listed["id"]
    trimmed = api.get("/collections", params={"fields": "id,title"})  # collection search fields
    assert trimmed.status_code == 200, trimmed.text
    assert {c["id"] for c in trimmed.json()["collections"]} == {L1C, L2A}


POINT = {"type": "Point", "coordinates": [5.5, 47.8]}
MALFORMED = [
    ("get", "/aggregate", {}, "aggregations"),
    ("get", "/aggregate", {"aggregations": "total_count,bogus_frequency"}, "bogus_frequency"),
    ("post", "/aggregate", {"aggregations": ["nope"]}, "nope"),
    ("post", "/aggregate", {"aggregations": []}, "aggregations"),
    (
        "get",
        "/aggregate",
        {"aggregations": "datetime_frequency", "datetime_frequency_interval": "fortnight"},
        "datetime_frequency_interval",
    ),
    (
        "post",
        "/aggregate",
        {"aggregations": ["datetime_frequency"], "datetime_frequency_interval": 7},
        "datetime_frequency_interval",
    ),
    ("get", "/aggregate", {"aggregations": "total_count", "bbox": "1,2,three,4"}, "bbox"),
    ("get", "/aggregate", {"aggregations": "total_count", "datetime": "yesterday"}, "datetime"),
    ("get", "/aggregate", {"aggregations": "total_count", "filter": "eo:cloud_cover <"}, "filter"),
    ("get", "/aggregate", {"aggregations": "total_count", "intersects": "{oops"}, "intersects"),
    ("post", "/aggregate", {"aggregations": ["total_count"], "filter": {"op": "??"}}, "filter"),
    (
        "post",
        "/aggregate",
        {"aggregations": ["total_count"], "bbox": [0, 0, 1, 1], "intersects": POINT},
        "intersects",
    ),
    ("post", "/aggregate", [1, 2], "object"),
    (
        "post",
        f"/collections/{L1C}/aggregate",
        {"aggregations": ["total_count"], "collections": [L2A]},
        "collections",
    ),
]


@pytest.mark.parametrize(("method", "path", "params", "named"), MALFORMED)
def test_a_malformed_request_is_a_400_naming_the_parameter(
    api: TestClient, method: str, path: str, params: Any, named: str
) -> None:
    """Bad input is a 400 with a JSON body whose description names what is wrong."""
    response = api.get(path, params=params) if method == "get" else api.post(path, json=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] and named in body["description"], body


def test_an_unknown_collection_is_a_404(api: TestClient) -> None:
    """Aggregating a collection that does not exist says so."""
    for response in (
        api.get("/collections/nope/aggregate", params={"aggregations": "total_count"}),
        api.post("/aggregate", json={"aggregations": ["total_count"], "collections": ["nope"]}),
        api.get("/collections/nope/aggregations"),
    ):
        assert response.status_code == 404, response.text
        assert "nope" in response.json()["description"]

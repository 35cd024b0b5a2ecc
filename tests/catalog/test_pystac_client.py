"""The catalogue as a notebook user meets it: pystac-client against ``kappacat serve api``."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from pystac_client import Client

from catalog.collections import L1C
from catalog.stac_validation import StacValidator
from tests.catalog.api_support import api_client, loaded_database, lon_of, make_items
from tests.servers import serve

pytestmark = pytest.mark.integration

COUNT = 60


@pytest.fixture(scope="module")
def items(mask_cog: tuple[Path, np.ndarray]) -> list[dict[str, Any]]:
    """The published items: one a day from 2023-06-01, over 20 places."""
    return make_items(*mask_cog, COUNT)


@pytest.fixture(scope="module")
def api_url(
    pg_admin_url: str, template_database: str, items: list[dict[str, Any]], validator: StacValidator
) -> Iterator[str]:
    """``kappacat serve api`` over the items."""
    with (
        loaded_database(pg_admin_url, template_database, items, validator) as database,
        serve("api", {"KAPPACAT_DATABASE_URL": database.url}, "/_mgmt/health") as url,
    ):
        yield url


def expected_ids(
    items: list[dict[str, Any]], west: float, east: float, until: datetime
) -> set[str]:
    """Ids of the items inside [west, east] in longitude, up to ``until``, under 60 % cloud."""
    out = set()
    for item in items:
        when = datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))
        inside = west <= item["bbox"][0] and item["bbox"][2] <= east
        if inside and when <= until and item["properties"]["eo:cloud_cover"] < 60:
            out.add(item["id"])
    return out


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_search_by_place_date_and_cloud_cover_pages_through_every_match(
    api_url: str, items: list[dict[str, Any]], method: str
) -> None:
    catalog = Client.open(api_url)
    assert catalog.id == "kappacat"
    west, east = lon_of(0) - 0.01, lon_of(9) + 0.1  # the first 10 of the 20 places
    until = datetime(2023, 7, 20, 23, 59, 59, tzinfo=UTC)
    search = catalog.search(
        collections=[L1C],
        bbox=[west, 47.7, east, 47.9],
        datetime=["2023-06-01T00:00:00Z", until.strftime("%Y-%m-%dT%H:%M:%SZ")],
        filter={"op": "<", "args": [{"property": "eo:cloud_cover"}, 60]},
        filter_lang="cql2-json",
        limit=4,
        method=method,
    )
    pages = list(search.pages())
    found = [item for page in pages for item in page.items]

    want = expected_ids(items, west, east, until)
    assert len(want) > 8  # enough matches that paging is exercised
    assert len(pages) == -(-len(want) // 4)
    assert sorted(i.id for i in found) == sorted(want)
    assert all(i.collection_id == L1C and "mask" in i.assets for i in found)
    assert all(i.properties["eo:cloud_cover"] < 60 for i in found)


def test_collections_and_items_browse_like_a_static_catalogue(api_url: str) -> None:
    catalog = Client.open(api_url)
    collection = catalog.get_collection(L1C)
    assert collection.license == "CC-BY-4.0"
    first = next(collection.get_items())
    assert first.get_self_href() == f"{api_url}/collections/{L1C}/items/{first.id}"


@contextlib.contextmanager
def warnings_as_errors() -> Iterator[None]:
    """Every warning (but deprecations, which are pystac-client's own business) as an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.mark.parametrize("filter_lang", [None, "cql2-text"])
def test_cql2_text_filter_with_the_default_method(
    api_url: str, items: list[dict[str, Any]], filter_lang: str | None
) -> None:
    """Without a method pystac-client POSTs; with ``filter_lang`` it sends the text as it is."""
    with warnings_as_errors():
        search = Client.open(api_url).search(
            collections=[L1C],
            filter="\"eo:cloud_cover\" < 60 AND platform = 'sentinel-2a'",
            filter_lang=filter_lang,
            limit=50,
        )
        assert search.method == "POST"
        found = {item.id for item in search.items()}
    want = {
        i["id"]
        for i in items
        if i["properties"]["eo:cloud_cover"] < 60 and i["properties"]["platform"] == "sentinel-2a"
    }
    assert 0 < len(want) < COUNT
    assert found == want


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_matched_is_the_number_of_matching_items(
    api_url: str, items: list[dict[str, Any]], method: str
) -> None:
    catalog = Client.open(api_url)
    with warnings_as_errors():
        assert catalog.search(collections=[L1C], method=method).matched() == COUNT
        cloudy = catalog.search(
            collections=[L1C],
            filter={"op": ">=", "args": [{"property": "eo:cloud_cover"}, 60]},
            method=method,
        )
        assert cloudy.matched() == sum(i["properties"]["eo:cloud_cover"] >= 60 for i in items)
    page = httpx.get(f"{api_url}/collections/{L1C}/items", params={"limit": 5}).json()
    assert (page["numberMatched"], page["numberReturned"]) == (COUNT, 5)


def test_sort_fields_query_and_filter_work_without_a_warning(
    api_url: str, items: list[dict[str, Any]]
) -> None:
    with warnings_as_errors():
        catalog = Client.open(api_url)
        search = catalog.search(
            collections=[L1C],
            sortby="-properties.eo:cloud_cover",
            fields={"include": ["properties.eo:cloud_cover"], "exclude": []},
            query={"sat:relative_orbit": {"gte": 30}},
            filter={"op": "<", "args": [{"property": "eo:cloud_cover"}, 90]},
            max_items=10,
        )
        found = list(search.items_as_dicts())
    props = [i["properties"] for i in items]
    matching = [p for p in props if p["sat:relative_orbit"] >= 30 and p["eo:cloud_cover"] < 90]
    want = sorted((p["eo:cloud_cover"] for p in matching), reverse=True)[:10]
    assert [f["properties"]["eo:cloud_cover"] for f in found] == want
    assert all(set(f["properties"]) <= {"eo:cloud_cover", "datetime"} for f in found)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_query_in_matches_any_element_of_an_array_property(api_url: str, method: str) -> None:
    catalog = Client.open(api_url)
    with warnings_as_errors():
        msi = catalog.search(
            collections=[L1C], query={"instruments": {"in": ["msi", "olci"]}}, method=method
        )
        assert len(list(msi.items_as_dicts())) == COUNT
        olci = catalog.search(
            collections=[L1C], query={"instruments": {"in": ["olci"]}}, method=method
        )
        assert list(olci.items_as_dicts()) == []


def test_above_the_count_thresholds_matched_is_pgstac_estimate(
    pg_admin_url: str, template_database: str, items: list[dict[str, Any]], validator: StacValidator
) -> None:
    """An operator who lowers the thresholds (or a large search) gets an estimate, not None."""
    with loaded_database(pg_admin_url, template_database, items, validator) as database:
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute(
                "UPDATE pgstac.pgstac_settings SET value = '0' WHERE name IN "
                "('context_estimated_count', 'context_estimated_cost')"
            )
        with api_client(database) as api:
            body = api.get("/search", params={"collections": L1C, "limit": 3}).json()
            with psycopg.connect(database.url) as conn:
                estimated = conn.execute(
                    "SELECT estimated_count, total_count FROM pgstac.search_wheres"
                ).fetchall()
    assert body["numberReturned"] == 3
    assert isinstance(body["numberMatched"], int) and body["numberMatched"] > 0
    # it came from the planner, not from counting the rows
    assert [(body["numberMatched"], None)] == estimated

"""Every request that took a service down or cost it gigabytes, sent to real servers.

Each one must be refused with a 4xx and a JSON body within a few seconds, and afterwards both
services must still answer from the same worker processes (none crashed and was replaced),
each of them within a memory bound. Before the limits, the first request killed the process
(a segmentation fault in the cql2 parser), the NOT filters cost 1.5 to 5.2 GB each, a tileset
of zoom 5 000 burnt 7 s of CPU and ended in a 500, and a 70 MB body was read and parsed whole.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from catalog.collections import L1C
from catalog.stac_validation import StacValidator
from tests.hostile.conftest import API_KEY, Services, services
from tests.servers import rss_mb, worker_pids
from tests.tiler.pixels import cog_centre, tile_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANSWER_WITHIN_S = 5.0
MAX_WORKER_RSS_MB = 700
SEARCH_CAP = 20
KEY = {"X-API-Key": API_KEY}
LON, LAT = cog_centre()
TILE = tile_for(LON, LAT, 14)
ZXY = f"{TILE.z}/{TILE.x}/{TILE.y}"
JUNE = "2023-06-01/2023-06-30"
MOSAIC = f"/collections/{L1C}"

DEEP = "(" * 1600 + "eo:cloud_cover < 30" + ")" * 1600  # 3.2 KB: segfaulted the parser
NOTS = "NOT " * 150 + "eo:cloud_cover < 30"  # 619 characters: 1.5-3.3 GB to validate
AOI = {"type": "Polygon", "coordinates": [[[LON, LAT], [LON + 0.01, LAT], [LON, LAT + 0.01],
                                           [LON, LAT]]]}  # fmt: skip


def nested_not(depth: int) -> dict[str, Any]:
    expr: dict[str, Any] = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]}
    for _ in range(depth):
        expr = {"op": "not", "args": [expr]}
    return expr


def or_filter(terms: int) -> dict[str, Any]:
    """An OR of ``terms`` id comparisons (40 000 of them: 2 MB, 3 minutes of PostgreSQL)."""
    args = [{"op": "=", "args": [{"property": "id"}, f"S2B_{i:08d}"]} for i in range(terms)]
    return {"op": "or", "args": args}


# (what, service, method, path, request arguments, status)
HOSTILE: list[tuple[str, str, str, str, dict[str, Any], int]] = [
    ("1600 parentheses: search", "api", "GET", "/search", {"params": {"filter": DEEP}}, 400),
    ("1600 parentheses: items", "api", "GET", f"/collections/{L1C}/items",
     {"params": {"filter": DEEP}}, 400),
    ("1600 parentheses: collections", "api", "GET", "/collections",
     {"params": {"filter": DEEP}}, 400),
    ("1600 parentheses: aggregate", "api", "GET", "/aggregate",
     {"params": {"filter": DEEP, "aggregations": "total_count"}}, 400),
    ("200 nested NOT: collection aggregate", "api", "POST", f"/collections/{L1C}/aggregate",
     {"json": {"filter": nested_not(200), "aggregations": ["datetime_frequency"]}}, 400),
    ("1000 unknown aggregations", "api", "GET", "/aggregate",
     {"params": {"aggregations": ",".join(f"a{i}" for i in range(1000))}}, 400),
    ("150 chained NOT", "api", "GET", "/search", {"params": {"filter": NOTS}}, 400),
    ("200 nested NOT in JSON", "api", "POST", "/search", {"json": {"filter": nested_not(200)}},
     400),
    ("JSON filter 2000 deep", "api", "GET", "/search",
     {"params": {"filter": "[" * 2000 + "]" * 2000, "filter-lang": "cql2-json"}}, 400),
    ("2 MB OR filter", "api", "POST", "/search", {"json": {"filter": or_filter(40_000)}}, 413),
    ("15 000-term OR filter", "api", "POST", "/search", {"json": {"filter": or_filter(15_000)}},
     400),
    ("30 KB query string", "api", "GET", "/search", {"params": {"ids": "x" * 30_000}}, 414),
    ("collections query not JSON", "api", "GET", "/collections", {"params": {"query": "{x"}}, 400),
    ("search body not an object", "api", "POST", "/search",
     {"content": "[]", "headers": {"content-type": "application/json"}}, 400),
    ("item POST without a body", "api", "POST", f"/collections/{L1C}/items", {"headers": KEY},
     400),
    ("item PUT without a body", "api", "PUT", f"/collections/{L1C}/items/x", {"headers": KEY},
     400),
    ("patch of a missing path", "api", "PATCH", f"/collections/{L1C}",
     {"headers": KEY, "json": [{"op": "replace", "path": "/nope/deeper", "value": 1}]}, 400),
    ("1600 parentheses: mosaic tile", "tiler", "GET", f"{MOSAIC}/tiles/WebMercatorQuad/{ZXY}.png",
     {"params": {"filter": DEEP}}, 400),
    ("1600 parentheses: point", "tiler", "GET", f"{MOSAIC}/point/{LON},{LAT}",
     {"params": {"filter": DEEP, "datetime": JUNE}}, 400),
    ("150 chained NOT: statistics", "tiler", "POST", f"{MOSAIC}/statistics",
     {"params": {"filter": NOTS, "datetime": JUNE}, "json": AOI}, 400),
    ("200 nested NOT: register", "tiler", "POST", "/searches/register",
     {"json": {"collections": [L1C], "filter": nested_not(200)}}, 400),
    ("tileset of zoom 5000", "tiler", "GET", f"{MOSAIC}/tiles/WebMercatorQuad",
     {"params": {"maxzoom": 5000}}, 400),
    ("TileJSON of zoom 100000", "tiler", "GET", f"{MOSAIC}/WebMercatorQuad/tilejson.json",
     {"params": {"maxzoom": 100_000}}, 400),
    ("WMTS of zooms 0-2000", "tiler", "GET", f"{MOSAIC}/WMTSCapabilities.xml",
     {"params": {"zooms": "WebMercatorQuad::0,2000"}}, 400),
    ("search list offset beyond bigint", "tiler", "GET", "/searches/",
     {"params": {"offset": "99999999999999999999"}}, 422),
    ("30 KB query string: tiles", "tiler", "GET", "/legend", {"params": {"x": "y" * 30_000}}, 414),
]  # fmt: skip


@pytest.fixture(scope="module")
def served(
    pg_admin_url: str,
    template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
    hostile_validator: StacValidator,
) -> Iterator[Services]:
    tiler_env = {"KAPPACAT_TILER_MAX_REGISTERED_SEARCHES": str(SEARCH_CAP)}
    with services(
        pg_admin_url,
        template_database,
        tmp_path_factory.mktemp("hostile"),
        hostile_validator,
        tiler_env=tiler_env,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def workers(served: Services) -> dict[int, set[int]]:
    """The worker processes of each supervisor before the attacks."""
    found = {pid: worker_pids(pid) for pid in (served.api_pid, served.tiler_pid)}
    assert all(len(pids) == 2 for pids in found.values()), found  # two workers by default
    return found


def assert_still_serving(served: Services, workers: dict[int, set[int]]) -> None:
    """Both services answer, from the same workers, none of them over the memory bound."""
    search = httpx.get(f"{served.api}/search", params={"limit": 1}, timeout=10)
    assert search.status_code == 200 and len(search.json()["features"]) == 1
    point = httpx.get(f"{served.tiler}{MOSAIC}/point/{LON},{LAT}", params={"datetime": JUNE})
    assert point.status_code == 200 and point.json()["items"]
    for supervisor, before in workers.items():
        assert worker_pids(supervisor) == before, "a worker died and was replaced"
        for pid in before:
            assert rss_mb(pid) < MAX_WORKER_RSS_MB, f"worker {pid}: {rss_mb(pid):.0f} MB"


@pytest.mark.parametrize(
    ("what", "service", "method", "path", "arguments", "status"),
    HOSTILE,
    ids=[case[0] for case in HOSTILE],
)
def test_a_hostile_request_is_refused_and_harms_nothing(
    served: Services, workers, what, service, method, path, arguments, status
):
    base = served.api if service == "api" else served.tiler
    started = time.monotonic()
    response = httpx.request(method, base + path, timeout=60, **arguments)
    elapsed = time.monotonic() - started
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    assert elapsed < ANSWER_WITHIN_S, f"{what}: {elapsed:.1f} s"
    assert_still_serving(served, workers)


def declare_huge_body(url: str, size: int) -> tuple[int, dict[str, Any], float]:
    """POST to ``url`` declaring a body of ``size`` bytes, sending only its first KB; the
    status, JSON body and seconds until the answer."""
    parts = urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = (
            f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"type": "Polygon", "coordinates": [[' + b" " * 1000)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    elapsed = time.monotonic() - started
    head_text, _, body = answer.partition(b"\r\n\r\n")
    return int(head_text.split()[1]), json.loads(body), elapsed


def test_a_70_mb_body_is_refused_before_it_is_read(served: Services, workers):
    for url in (
        f"{served.tiler}{MOSAIC}/statistics?datetime=2023-06-01",
        f"{served.api}/search",
    ):
        status, body, elapsed = declare_huge_body(url, 70_000_000)
        assert status == 413, body
        assert "MAX_BODY_BYTES" in (body.get("detail") or body.get("description"))
        assert elapsed < ANSWER_WITHIN_S
    assert_still_serving(served, workers)


def test_an_id_outside_latin_1_is_created_once(served: Services, workers):
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": "S2-€-hostile",
        "geometry": {"type": "Point", "coordinates": [10.0, 47.8]},
        "bbox": [10.0, 47.8, 10.0, 47.8],
        "properties": {"datetime": "2023-06-01T10:30:00Z"},
        "assets": {},
        "links": [],
    }
    url = f"{served.api}/collections/{L1C}/items"
    created = httpx.post(url, json=item, headers=KEY, timeout=30)
    assert created.status_code == 201, created.text  # was: 500, with the item committed
    assert created.headers["location"].endswith("/items/S2-%E2%82%AC-hostile")
    assert httpx.post(url, json=item, headers=KEY, timeout=30).status_code == 409
    assert_still_serving(served, workers)


def test_anonymous_mosaic_queries_cannot_grow_the_searches_table(served: Services, workers):
    statuses = set()
    for i in range(3 * SEARCH_CAP):  # 60 distinct mosaics (the report: 300 made 600 rows)
        response = httpx.get(
            f"{served.tiler}{MOSAIC}/WebMercatorQuad/tilejson.json",
            params={"datetime": JUNE, "filter": f"eo:cloud_cover < {i}.5"},
            timeout=30,
        )
        assert response.headers["content-type"] == "application/json"
        statuses.add(response.status_code)
    assert statuses == {200, 503}  # all fresh: none recycled, the rest refused for now
    with psycopg.connect(served.database.url) as conn:
        rows = conn.execute("SELECT count(*) FROM pgstac.searches").fetchone()
    assert rows is not None and rows[0] <= SEARCH_CAP
    assert_still_serving(served, workers)


def test_a_worker_that_dies_anyway_is_replaced(served: Services, workers):
    """Last in this module: it changes the worker processes."""
    for supervisor, health in (
        (served.api_pid, f"{served.api}/_mgmt/health"),
        (served.tiler_pid, f"{served.tiler}/healthz"),
    ):
        before = worker_pids(supervisor)
        victim = min(before)
        os.kill(victim, signal.SIGSEGV)  # as the parser's stack overflow did
        # the other worker goes on answering while the supervisor replaces the dead one
        assert httpx.get(health, timeout=10).status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = worker_pids(supervisor)
            if victim not in now and len(now) == len(before):
                break
            time.sleep(0.2)
        assert victim not in now and len(now) == len(before), now
        for _ in range(10):
            assert httpx.get(health, timeout=10).status_code == 200

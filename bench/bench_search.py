"""STAC search latency: KappaCat's API and a vanilla stac-fastapi-pgstac app, same database.

100 000 mask items over Europe (``bench/catalog_items.py``), and the searches a notebook
user makes: a 2 x 2 degree box, a three-month window and ``eo:cloud_cover < N`` (CQL2 text),
10 items a page, as ``GET /search``. Both servers run side by side under the same uvicorn
options, read through the ``kappacat_read`` role, and answer the same requests from 8
concurrent keep-alive clients on loopback; rounds alternate which goes first.

    .venv/bin/python -m bench.bench_search [--items 100000] [--rounds 3] [--requests 400]
        [--shape search|aggregate]

``--shape aggregate`` measures the Aggregation Extension instead: a field-sized box over one
calendar year, four aggregations (``AGGREGATIONS``) from ``GET /aggregate``; vanilla has no
aggregation, so its reference is the client's way without one: the same search, every item
fetched from ``GET /search`` (one page of up to 1000) and counted.

Needs PostgreSQL with PostGIS (KAPPACAT_TEST_ADMIN_URL or postgresql://postgres@127.0.0.1:5432/
postgres). Writes bench/results/search-*.json and prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import numpy as np
import psycopg
from psycopg import sql

from bench.bench_tiles import (
    cpu_seconds,
    reader_url,
    report_header,
    rss_mb,
    uvicorn_server,
)
from bench.bench_tiles_data import drop_database
from bench.bench_tiles_load import run
from bench.catalog_items import DAYS, EAST, NORTH, SOUTH, START, WEST, synthetic_items, template
from catalog.collections import L1C, collection_dicts
from catalog.settings import DatabaseSettings, with_database
from catalog.stac_validation import StacValidator
from ingest.publish import publish_items, upsert_collections
from kappacat.migrate import migrate

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache" / "tiles"
RESULTS = REPO / "bench" / "results"
NAME = "kappacat_bench_search"
CLIENTS = 8


def prepare(admin: str, count: int, schemas: Path) -> DatabaseSettings:
    """A fresh database with the collections and ``count`` published items."""
    drop_database(admin, NAME)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(NAME)))
    database = DatabaseSettings(url=with_database(admin, NAME))
    migrate(database)
    upsert_collections(database.url, collection_dicts())
    items = synthetic_items(template(CACHE), count)
    validator = StacValidator(schemas)
    for start in range(0, count, 10000):
        publish_items(database.url, {"bench": items[start : start + 10000]}, validator)
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return database


def search_paths(count: int, seed: int) -> list[str]:
    """``count`` searches: a random 2 x 2 degree box, three months, cloud cover under a random
    limit (10 to 60 %: 51 different filters, as users pick their own)."""
    rng = np.random.default_rng(seed)
    paths = []
    for _ in range(count):
        west = int(rng.integers(WEST, EAST - 2))
        south = int(rng.integers(SOUTH, NORTH - 2))
        start = START + timedelta(days=int(rng.integers(0, DAYS - 92)))
        end = start + timedelta(days=92)
        query = {
            "collections": L1C,
            "bbox": f"{west},{south},{west + 2},{south + 2}",
            "datetime": f"{start:%Y-%m-%dT00:00:00Z}/{end:%Y-%m-%dT00:00:00Z}",
            "filter": f"eo:cloud_cover < {int(rng.integers(10, 61))}",
            "filter-lang": "cql2-text",
            "limit": "10",
        }
        paths.append("/search?" + urlencode(query))
    return paths


AGGREGATIONS = "total_count,datetime_frequency,cloud_cover_frequency,clear_percentage_frequency"
FIELD_DEGREES = 0.02
"""A field: 0.02 x 0.02 degrees (about 1.5 x 2.2 km in Europe)."""


def aggregate_paths(count: int, seed: int) -> dict[str, list[str]]:
    """``count`` aggregations "how many dates, how cloudy, per month": a random field, a random
    calendar year, as KappaCat's ``/aggregate``; and the reference without the extension, the
    same items counted by a client from vanilla's ``/search`` (1000 a page: one page here)."""
    rng = np.random.default_rng(seed)
    paths: dict[str, list[str]] = {"kappacat": [], "vanilla": []}
    for _ in range(count):
        west = float(rng.uniform(WEST, EAST - FIELD_DEGREES))
        south = float(rng.uniform(SOUTH, NORTH - FIELD_DEGREES))
        year = START.year + int(rng.integers(0, DAYS // 365))
        east, north = west + FIELD_DEGREES, south + FIELD_DEGREES
        query = {
            "collections": L1C,
            "bbox": f"{west:.4f},{south:.4f},{east:.4f},{north:.4f}",
            "datetime": f"{year}-01-01T00:00:00Z/{year}-12-31T23:59:59Z",
        }
        paths["kappacat"].append("/aggregate?" + urlencode({**query, "aggregations": AGGREGATIONS}))
        paths["vanilla"].append("/search?" + urlencode({**query, "limit": "1000"}))
    return paths


def _found(base: str, path: str) -> list[str] | int:
    answer = httpx.get(base + path, timeout=30)
    answer.raise_for_status()
    body = answer.json()
    if "aggregations" in body:
        return int(body["aggregations"][0]["value"])
    assert not any(link["rel"] == "next" for link in body["links"]), "one page expected"
    return [f["id"] for f in body["features"]]


def same_answers(bases: dict[str, str], paths: dict[str, list[str]], count: int = 20) -> float:
    """Share of the first requests both servers answer alike: the same item ids, or (for
    aggregations) a ``total_count`` equal to the number of items the search returns."""
    same = 0
    for n in range(count):
        ours, theirs = (_found(bases[s], paths[s][n]) for s in ("kappacat", "vanilla"))
        if isinstance(ours, int):
            same += ours == len(theirs)
        else:
            same += ours == theirs
    return same / count


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare the data, start both servers, run the rounds; the results as JSON."""
    admin = os.environ.get(
        "KAPPACAT_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    load_before = os.getloadavg()
    print(f"publishing {args.items} items ...", flush=True)
    database = prepare(admin, args.items, args.schemas)
    read = reader_url(database.url, DatabaseSettings().read_role)
    parts = urlsplit(read)
    ours = {"KAPPACAT_DATABASE_URL": database.url, "KAPPACAT_DATABASE_READ_URL": read}
    vanilla = {
        "PGUSER": parts.username or "",
        "PGPASSWORD": parts.password or "unused",
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGDATABASE": NAME,
    }
    if args.shape == "aggregate":
        paths = aggregate_paths(args.requests, seed=1)
    else:
        paths = {s: search_paths(args.requests, seed=1) for s in ("kappacat", "vanilla")}
    runs: dict[str, list[dict[str, float]]] = {"kappacat": [], "vanilla": []}
    try:
        with (
            uvicorn_server(
                ["--factory", "catalog_api.app:create_app"], ours, args.workers, "/_mgmt/ping"
            ) as ours_,
            uvicorn_server(
                ["--factory", "stac_fastapi.pgstac.app:create_app"],
                vanilla,
                args.workers,
                "/_mgmt/ping",
            ) as vanilla_,
        ):
            bases = {"kappacat": ours_[0], "vanilla": vanilla_[0]}
            pids = {"kappacat": ours_[1], "vanilla": vanilla_[1]}
            agreement = same_answers(bases, paths)
            for server, base in bases.items():  # warm up: connections, plans, caches
                run(base, paths[server][: args.requests // 4], CLIENTS)
            for r in range(args.rounds):
                order = list(bases) if r % 2 == 0 else list(reversed(bases))
                for server in order:
                    before = cpu_seconds(pids[server])
                    summary = run(bases[server], paths[server], CLIENTS).summary()
                    used = cpu_seconds(pids[server]) - before
                    summary["server_cpu_ms"] = round(1000 * used / len(paths[server]), 2)
                    summary["rss_mb"] = rss_mb(pids[server])
                    runs[server].append(summary)
                    print(f"round {r + 1} {server:8} {summary}", flush=True)
    finally:
        drop_database(admin, NAME)
    return {
        **report_header("bench.bench_search", load_before),
        "settings": {
            "items": args.items,
            "shape": args.shape,
            "rounds": args.rounds,
            "requests": args.requests,
            "clients": CLIENTS,
            "workers": args.workers,
        },
        "same_answers": agreement,
        "runs": runs,
        "median": {
            s: {k: round(statistics.median(r[k] for r in rs), 2) for k in rs[0]}
            for s, rs in runs.items()
        },
    }


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="items in the catalogue")
    parser.add_argument(
        "--shape",
        choices=("search", "aggregate"),
        default="search",
        help="search: box + dates + cloud cover; aggregate: a field over a year, /aggregate",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--requests", type=int, default=400, help="searches per run")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    parser.add_argument("--schemas", type=Path, default=REPO.parent / "shared/data/stac-schemas")
    args = parser.parse_args()
    report = benchmark(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.shape}-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nsame answers: {report['same_answers']:.0%}; results in {out}\n")
    print("| server | p50 ms | p95 ms | mean ms | requests/s | server CPU ms/search | RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for server, m in report["median"].items():
        print(
            f"| {server} | {m['p50_ms']} | {m['p95_ms']} | {m['mean_ms']} | {m['rps']} | "
            f"{m['server_cpu_ms']} | {m['rss_mb']} |"
        )


if __name__ == "__main__":
    main()

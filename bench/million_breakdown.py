"""Where a search's time goes inside PostgreSQL: pgstac's steps timed in one warm session.

For sample requests of each query shape (``bench.bench_million.SHAPES``), the search body
the API would send to pgstac, run step by step through the read role, as pgstac's
``search()`` runs them: ``search_query`` (the where clause and order built from the body, the
search registered in ``pgstac.searches``), ``where_stats`` (which partitions, counts), then
the rows themselves, and ``EXPLAIN ANALYZE`` of the same query on ``pgstac.items`` for its
planning and execution time. The whole ``search()`` call is timed too. Medians over the
samples, after one unmeasured pass.

    nice -n 10 .venv/bin/python -m bench.million_breakdown [--samples 20] [--shapes a b c d]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import psycopg
from cql2 import Expr
from psycopg.types.json import Jsonb

from bench.bench_million import CACHE, NAME, RESULTS, SHAPES
from bench.bench_tiles import reader_url, report_header
from bench.europe_items import cached_items
from catalog.settings import DatabaseSettings, with_database


def search_body(path: str, hydrate: bool = False) -> dict[str, Any]:
    """The pgstac search body of a ``GET /search`` path, as stac-fastapi-pgstac builds it."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
    body: dict[str, Any] = {"limit": int(query.get("limit", "10"))}
    if "collections" in query:
        body["collections"] = query["collections"].split(",")
    if "bbox" in query:
        body["bbox"] = [float(x) for x in query["bbox"].split(",")]
    if "datetime" in query:
        body["datetime"] = query["datetime"]
    if "filter" in query:
        body["filter"] = Expr(query["filter"]).to_json()
        body["filter-lang"] = "cql2-json"
    if "sortby" in query:
        field = query["sortby"].lstrip("+-")
        body["sortby"] = [
            {"field": field, "direction": "desc" if query["sortby"][0] == "-" else "asc"}
        ]
    if "token" in query:
        body["token"] = query["token"]
    body["conf"] = {"nohydrate": not hydrate}
    return body


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def steps(conn: psycopg.Connection[Any], body: dict[str, Any]) -> dict[str, float]:
    """Milliseconds of each of pgstac's steps for one search body."""
    out: dict[str, float] = {}
    started = time.perf_counter()
    conn.execute("SELECT pgstac.search(%s)", (Jsonb(body),)).fetchone()
    out["search_ms"] = _ms(started)
    started = time.perf_counter()
    row = conn.execute(
        "SELECT _where, orderby FROM pgstac.search_query(%s)", (Jsonb(body),)
    ).fetchone()
    out["search_query_ms"] = _ms(started)
    assert row
    where, orderby = row
    started = time.perf_counter()
    stats = conn.execute(
        "SELECT partitions FROM pgstac.where_stats(%s, false, %s)", (where, Jsonb(body["conf"]))
    ).fetchone()
    out["where_stats_ms"] = _ms(started)
    assert stats
    started = time.perf_counter()
    conn.execute(
        "SELECT count(*) FROM pgstac.search_rows(%s, %s, %s, %s)",
        (where, orderby, stats[0], body["limit"] + 1),
    ).fetchone()
    out["search_rows_ms"] = _ms(started)
    plan = conn.execute(
        f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM pgstac.items WHERE {where}"
        f" ORDER BY {orderby} LIMIT {body['limit'] + 1}"
    ).fetchone()
    assert plan
    top = plan[0][0]
    out["plan_ms"] = float(top["Planning Time"])
    out["execute_ms"] = float(top["Execution Time"])
    return out


def breakdown(
    url: str, paths: dict[str, list[str]], readonly: bool = False
) -> dict[str, dict[str, float]]:
    """Per shape, the median milliseconds of each step over its sample paths; with
    ``readonly`` in pgstac's read-only mode (searches are not registered)."""
    result = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")  # as pypgstac and the APIs do
        if readonly:
            conn.execute("SET pgstac.readonly TO 'true'")
        for shape, sample in paths.items():
            bodies = [search_body(p) for p in sample]
            for body in bodies:  # one pass to warm the session's caches and plans
                steps(conn, body)
            timings = [steps(conn, body) for body in bodies]
            result[shape] = {
                k: round(statistics.median(t[k] for t in timings), 2) for k in timings[0]
            }
            print(f"{shape}: {result[shape]}", flush=True)
    return result


def main() -> None:
    """Time the steps for sample searches of each shape and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--shapes", nargs="*", default=["a", "b", "c", "d"])
    parser.add_argument("--database", default=NAME)
    parser.add_argument("--readonly", action="store_true", help="in pgstac's read-only mode")
    args = parser.parse_args()
    admin = os.environ.get(
        "KAPPACAT_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    load_before = os.getloadavg()
    _, tiles = cached_items(CACHE, args.items, args.seed)
    url = reader_url(with_database(admin, args.database), DatabaseSettings().read_role)
    paths = {}
    for name in args.shapes:
        rng = np.random.default_rng(ord(name[0]))
        paths[name] = [SHAPES[name].make(rng, tiles) for _ in range(args.samples)]
    report = {**report_header("bench.million_breakdown", load_before)}
    report["readonly"] = args.readonly
    report["median_ms"] = breakdown(url, paths, args.readonly)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"million-breakdown-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"results in {out}")
    keys = list(next(iter(report["median_ms"].values())))
    print("| shape | " + " | ".join(keys) + " |")
    print("| --- |" + " ---: |" * len(keys))
    for shape, row in report["median_ms"].items():
        print(f"| {shape} | " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()

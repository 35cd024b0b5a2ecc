"""Loading items into pgstac: ``kappacat publish``'s path against plain pypgstac, items/s.

KappaCat's ``publish_items`` checks every item (STAC schemas offline, known collection, no
duplicates), finds which already exist, then upserts them all with pypgstac's ``Loader``. The
reference is pypgstac's ``Loader.load_items`` alone (insert, no checks), as ``pypgstac load``
runs it. Each run loads the same items into a fresh, migrated database; rounds alternate
which goes first. A last run publishes the same items again into a full database (all
updates), as a re-run of the pipeline would.

    .venv/bin/python -m bench.bench_publish [--items 20000] [--rounds 3]

Needs PostgreSQL with PostGIS (KAPPACAT_TEST_ADMIN_URL or postgresql://postgres@127.0.0.1:5432/
postgres). Writes bench/results/publish-*.json and prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods

from bench.bench_tiles import report_header
from bench.bench_tiles_data import drop_database
from bench.catalog_items import synthetic_items, template
from catalog.collections import collection_dicts
from catalog.settings import DatabaseSettings, with_database
from catalog.stac_validation import StacValidator
from ingest.publish import publish_items, upsert_collections
from kappacat.migrate import migrate

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache" / "tiles"
RESULTS = REPO / "bench" / "results"
NAME = "kappacat_bench_publish"


def fresh_database(admin: str) -> str:
    """A new, migrated database with the collections; its URL."""
    drop_database(admin, NAME)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(NAME)))
    url = with_database(admin, NAME)
    migrate(DatabaseSettings(url=url))
    upsert_collections(url, collection_dicts())
    return url


def count_items(url: str) -> int:
    """Items in the database."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pgstac.items").fetchone()
    return int(row[0]) if row else 0


def pypgstac_load(url: str, items: list[dict[str, Any]]) -> None:
    """The reference: pypgstac's loader alone, as ``pypgstac load items`` does."""
    with PgstacDB(dsn=url) as db:
        Loader(db=db).load_items(iter(items), insert_mode=Methods.insert)


def kappacat_publish(validator: StacValidator) -> Callable[[str, list[dict[str, Any]]], None]:
    """KappaCat's path: every item checked, then upserted."""

    def load(url: str, items: list[dict[str, Any]]) -> None:
        publish_items(url, {"bench": items}, validator)

    return load


def timed(url: str, load: Callable[[str, list[dict[str, Any]]], None], items: list[Any]) -> float:
    """Items per second of one load; checks that every item arrived."""
    started = time.perf_counter()
    load(url, items)
    seconds = time.perf_counter() - started
    found = count_items(url)
    if found != len(items):
        raise RuntimeError(f"loaded {found} items, expected {len(items)}")
    return len(items) / seconds


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Generate the items, run the rounds; the results as JSON."""
    admin = os.environ.get(
        "KAPPACAT_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    load_before = os.getloadavg()
    print(f"generating {args.items} items ...", flush=True)
    items = synthetic_items(template(CACHE), args.items)
    validator = StacValidator(args.schemas)
    if validator.errors(items[0]) or validator.errors(items[-1]):
        raise RuntimeError(f"generated items are not valid: {validator.errors(items[0])}")
    loaders = {"pypgstac": pypgstac_load, "kappacat": kappacat_publish(validator)}
    rates: dict[str, list[float]] = {name: [] for name in loaders}
    try:
        for r in range(args.rounds):
            order = list(loaders) if r % 2 == 0 else list(reversed(loaders))
            for name in order:
                url = fresh_database(admin)
                rates[name].append(timed(url, loaders[name], items))
                print(f"round {r + 1} {name:9} {rates[name][-1]:8.0f} items/s", flush=True)
        started = time.perf_counter()
        kappacat_publish(validator)(url, items)  # the last database is full: all updates
        again = len(items) / (time.perf_counter() - started)
        print(f"publishing the same items again (updates): {again:.0f} items/s", flush=True)
    finally:
        drop_database(admin, NAME)
    return {
        **report_header("bench.bench_publish", load_before),
        "settings": {"items": args.items, "rounds": args.rounds},
        "items_per_s": {k: [round(v) for v in vs] for k, vs in rates.items()},
        "median_items_per_s": {k: round(statistics.median(vs)) for k, vs in rates.items()},
        "republish_items_per_s": round(again),
    }


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000, help="items per load")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--schemas", type=Path, default=REPO.parent / "shared/data/stac-schemas")
    args = parser.parse_args()
    report = benchmark(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"publish-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    median = report["median_items_per_s"]
    print(f"\nresults in {out}\n")
    print("| loader | items/s (median) | runs |")
    print("| --- | ---: | --- |")
    for name, runs in report["items_per_s"].items():
        print(f"| {name} | {median[name]} | {', '.join(map(str, runs))} |")
    print(f"| kappacat, the same items again (updates) | {report['republish_items_per_s']} | 1 |")


if __name__ == "__main__":
    main()

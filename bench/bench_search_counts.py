"""What ``numberMatched`` costs a search: pgstac's ``search()`` with its context off and 'auto'.

The searches of ``bench_search`` (a 2 x 2 degree box, three months, ``eo:cloud_cover < N``,
10 items a page) run straight in pgstac, one session as the ``kappacat_read`` role, each asked
twice: with ``"conf": {"context": "off"}`` (no count, as before migration 0007) and with
``"auto"`` (what 0007 sets: exact counts below 10 000 estimated rows or cost, else pgstac's
estimate). Every round uses new boxes, so no count is served from pgstac's per-filter cache:
the worst case. Rounds alternate which mode goes first.

    .venv/bin/python -m bench.bench_search_counts [--items 100000] [--rounds 3] [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from bench.bench_search import NAME, RESULTS, prepare
from bench.bench_tiles import report_header
from bench.bench_tiles_data import drop_database
from bench.catalog_items import DAYS, EAST, NORTH, SOUTH, START, WEST
from catalog.collections import L1C
from catalog.settings import DatabaseSettings

REPO = Path(__file__).resolve().parents[1]
MODES = ("off", "auto")


def searches(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` search bodies like ``bench_search``'s, reproducible for a seed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        west = int(rng.integers(WEST, EAST - 2))
        south = int(rng.integers(SOUTH, NORTH - 2))
        start = START + timedelta(days=int(rng.integers(0, DAYS - 92)))
        end = start + timedelta(days=92)
        limit = int(rng.integers(10, 61))
        out.append(
            {
                "collections": [L1C],
                "bbox": [west, south, west + 2, south + 2],
                "datetime": f"{start:%Y-%m-%dT00:00:00Z}/{end:%Y-%m-%dT00:00:00Z}",
                "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, limit]},
                "filter-lang": "cql2-json",
                "limit": 10,
            }
        )
    return out


def timed(conn: psycopg.Connection, bodies: list[dict[str, Any]], mode: str) -> list[float]:
    """Milliseconds of each search in ``mode``; checks that 'auto' answers numberMatched."""
    times = []
    for body in bodies:
        request = {**body, "conf": {"context": mode, "nohydrate": True}}
        started = time.perf_counter()
        row = conn.execute("SELECT pgstac.search(%s)", (Jsonb(request),)).fetchone()
        times.append(1000 * (time.perf_counter() - started))
        assert row is not None
        if mode == "auto" and "numberMatched" not in row[0]:
            raise AssertionError(f"no numberMatched for {body}")
    return times


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare the data and run the rounds; the results as JSON."""
    admin = os.environ.get(
        "KAPPACAT_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    load_before = os.getloadavg()
    print(f"publishing {args.items} items ...", flush=True)
    database = prepare(admin, args.items, args.schemas)
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    try:
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute(f"SET ROLE {DatabaseSettings().read_role}")
            conn.execute("SET search_path TO pgstac, public")  # as the API's connections
            for mode in MODES:  # warm up: plans, caches
                timed(conn, searches(args.requests // 4, seed=1000), mode)
            for r in range(args.rounds):
                order = MODES if r % 2 == 0 else tuple(reversed(MODES))
                for mode in order:
                    ms = timed(conn, searches(args.requests, seed=2 * r + MODES.index(mode)), mode)
                    summary = {
                        "p50_ms": round(statistics.median(ms), 2),
                        "p95_ms": round(float(np.percentile(ms, 95)), 2),
                    }
                    runs[mode].append(summary)
                    print(f"round {r + 1} context={mode:4} {summary}", flush=True)
    finally:
        drop_database(admin, NAME)
    median = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    return {
        **report_header("bench.bench_search_counts", load_before),
        "settings": {"items": args.items, "rounds": args.rounds, "requests": args.requests},
        "runs": runs,
        "median": median,
        "ratio_auto_to_off": {
            k: round(median["auto"][k] / median["off"][k], 2) for k in median["off"]
        },
    }


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="items in the catalogue")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--requests", type=int, default=200, help="searches per mode and round")
    parser.add_argument("--schemas", type=Path, default=REPO.parent / "shared/data/stac-schemas")
    args = parser.parse_args()
    result = benchmark(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"search-counts-{stamp}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result["median"]), json.dumps(result["ratio_auto_to_off"]))


if __name__ == "__main__":
    main()

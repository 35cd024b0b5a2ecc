"""Loading into a catalogue that holds a million items: KappaCat's publish path against
pypgstac's loader alone, in the same run.

``bench_million`` loads the million once (into ``kappacat_bench_million``); this measures what
loading costs once the catalogue is that big: ``--items`` items copied from the million's
NDJSON with new ids (``<id>-load<round>``), spread over every year's partitions as the
originals are, loaded with ``ingest.publish.publish_items`` (every item validated, then
upserted) and with pypgstac's ``Loader.load_items`` (insert, no checks, as ``pypgstac load``),
rounds alternating which goes first; each round's items are deleted again after it.

    nice -n 10 .venv/bin/python -m bench.bench_million_load [--items 10000] [--rounds 3]

Writes bench/results/million-load-*.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.bench_million import CACHE, NAME
from bench.bench_publish import kappacat_publish, pypgstac_load
from bench.bench_tiles import report_header
from bench.europe_items import cache_path
from catalog.settings import with_database
from catalog.stac_validation import StacValidator

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def sample(path: Path, count: int, total: int) -> list[dict[str, Any]]:
    """``count`` items spread evenly over the million's file (so over its years and tiles)."""
    step = max(1, total // count)
    with path.open() as lines:
        return [json.loads(line) for line in itertools.islice(lines, 0, None, step)][:count]


def renamed(items: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    """The items as new ones: their ids with ``-<tag>`` appended."""
    out = []
    for item in items:
        copied = copy.deepcopy(item)
        copied["id"] = f"{item['id']}-{tag}"
        out.append(copied)
    return out


def delete(url: str, tag: str) -> int:
    """Remove the items of one round again; how many there were."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute("DELETE FROM pgstac.items WHERE id LIKE %s", (f"%-{tag}",))
        return cur.rowcount


def main() -> None:
    """Run the rounds and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="items loaded per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--million", type=int, default=1_000_000, help="items of the file")
    parser.add_argument("--database", default=NAME)
    parser.add_argument("--schemas", type=Path, default=REPO.parent / "shared/data/stac-schemas")
    args = parser.parse_args()
    admin = os.environ.get(
        "KAPPACAT_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    url = with_database(admin, args.database)
    load_before = os.getloadavg()
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pgstac.items").fetchone()
    held = int(row[0]) if row else 0
    base = sample(cache_path(CACHE, args.million, 0), args.items, args.million)
    loaders = {"pypgstac": pypgstac_load, "kappacat": kappacat_publish(StacValidator(args.schemas))}
    rates: dict[str, list[float]] = {name: [] for name in loaders}
    for r in range(args.rounds):
        order = list(loaders) if r % 2 == 0 else list(reversed(loaders))
        for name in order:
            tag = f"load{r}{name[0]}"
            items = renamed(base, tag)
            started = time.perf_counter()
            loaders[name](url, items)
            rate = len(items) / (time.perf_counter() - started)
            if (found := delete(url, tag)) != len(items):
                raise SystemExit(f"{name} loaded {found} of {len(items)} items")
            rates[name].append(rate)
            print(f"round {r + 1} {name:9} {rate:8.0f} items/s", flush=True)
    report = {
        **report_header("bench.bench_million_load", load_before),
        "settings": {"items": args.items, "rounds": args.rounds, "catalogue_items": held},
        "items_per_s": {k: [round(v) for v in vs] for k, vs in rates.items()},
        "median_items_per_s": {k: round(statistics.median(vs)) for k, vs in rates.items()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"million-load-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    medians = report["median_items_per_s"]
    print(f"\nresults in {out}\n")
    print("| loader | items/s (median) | runs |\n| --- | ---: | --- |")
    for name in ("kappacat", "pypgstac"):
        print(f"| {name} | {medians[name]} | {', '.join(map(str, report['items_per_s'][name]))} |")


if __name__ == "__main__":
    main()

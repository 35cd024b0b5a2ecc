"""The catalogue at a million items: load rate, database size, search latency per query shape.

``bench/europe_items.py`` generates the items (cached as NDJSON under ``bench/.cache/europe``);
they are published with the production path (``ingest.publish.publish_items``: checked, then
upserted with pypgstac) into a fresh database ``kappacat_bench_million`` migrated by
``kappacat migrate``. The database is kept and reused by later runs with the same items
(``--reload`` loads again). KappaCat's API and a vanilla stac-fastapi-pgstac app then serve
the same database side by side (same uvicorn options, the ``kappacat_read`` role) and answer
the same searches from 8 concurrent keep-alive clients, shape after shape, in rounds that
alternate which server goes first; both must return the same item ids for a sample of each
shape.

    nice -n 10 .venv/bin/python -m bench.bench_million [--items 1000000] [--rounds 3]
        [--requests 200] [--shapes a b c d e agg] [--reload]

The query shapes are the table :data:`SHAPES`: a name, a sentence, a function that makes the
request paths from a random generator and the catalogue's tiles, and optionally the number of
pages to follow (``next`` links), the servers that serve it and what to compare between them.
Writes bench/results/million-*.json and prints Markdown tables for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import numpy as np
import psycopg
from psycopg import sql

from bench.bench_tiles import cpu_seconds, reader_url, report_header, rss_mb, uvicorn_server
from bench.bench_tiles_data import drop_database
from bench.bench_tiles_load import run
from bench.europe_items import (
    FIRST_DAY,
    LEVELS,
    Tile,
    acquisitions,
    cache_path,
    covered_tiles,
    follow_batches,
    generate,
)
from catalog.collections import L1C, L2A
from catalog.settings import DatabaseSettings, with_database
from catalog.stac_validation import StacValidator
from ingest.publish import publish_items
from kappacat.migrate import migrate

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache" / "europe"
RESULTS = REPO / "bench" / "results"
NAME = "kappacat_bench_million"
CLIENTS = 8
BATCH = 10_000
FIELD = 0.05  # degrees a side of a field-sized box
SERVERS = ("kappacat", "vanilla")


def _field_bbox(rng: np.random.Generator, tiles: list[Tile]) -> str:
    """A field-sized box somewhere well inside one of the catalogue's tiles."""
    tile = tiles[int(rng.integers(len(tiles)))]
    w, s, e, n = tile.bbox
    x = w + (e - w) * rng.uniform(0.2, 0.8 - FIELD / (e - w))
    y = s + (n - s) * rng.uniform(0.2, 0.8 - FIELD / (n - s))
    return f"{x:.4f},{y:.4f},{x + FIELD:.4f},{y + FIELD:.4f}"


def _year(rng: np.random.Generator) -> str:
    start = FIRST_DAY + timedelta(days=int(rng.integers(0, 9 * 365)))
    end = start + timedelta(days=365)
    return f"{start:%Y-%m-%d}T00:00:00Z/{end:%Y-%m-%d}T00:00:00Z"


def _search(**query: str) -> str:
    return "/search?" + urlencode({"limit": "10", "sortby": "-datetime", **query})


def _collection(rng: np.random.Generator) -> str:
    return (L1C, L2A)[int(rng.integers(2))]


def _cloud(rng: np.random.Generator) -> str:
    return f"eo:cloud_cover < {int(rng.integers(10, 61))}"


def shape_a(rng: np.random.Generator, tiles: list[Tile]) -> str:
    """Field + one year + cloud cover, newest first."""
    return _search(
        collections=_collection(rng),
        bbox=_field_bbox(rng, tiles),
        datetime=_year(rng),
        filter=_cloud(rng),
        **{"filter-lang": "cql2-text"},
    )


def shape_b(rng: np.random.Generator, tiles: list[Tile]) -> str:
    """Field + one year + cloud cover + a class share."""
    share = f"kappacat:clear_percentage > {int(rng.integers(30, 71))}"
    return _search(
        collections=_collection(rng),
        bbox=_field_bbox(rng, tiles),
        datetime=_year(rng),
        filter=f"{_cloud(rng)} AND {share}",
        **{"filter-lang": "cql2-text"},
    )


def shape_c(rng: np.random.Generator, tiles: list[Tile]) -> str:
    """Field + cloud cover, all dates."""
    return _search(
        collections=_collection(rng),
        bbox=_field_bbox(rng, tiles),
        filter=_cloud(rng),
        **{"filter-lang": "cql2-text"},
    )


def shape_d(rng: np.random.Generator, tiles: list[Tile]) -> str:
    """One MGRS tile over a year."""
    tile = tiles[int(rng.integers(len(tiles)))]
    return _search(
        collections=_collection(rng),
        datetime=_year(rng),
        filter=f"\"grid:code\" = 'MGRS-{tile.code}'",
        **{"filter-lang": "cql2-text"},
    )


def shape_e(rng: np.random.Generator, tiles: list[Tile]) -> str:
    """Field, all dates, newest first: the first page of a chain followed to page 50."""
    return _search(collections=_collection(rng), bbox=_field_bbox(rng, tiles))


AGGREGATIONS = "total_count,datetime_frequency,cloud_cover_frequency,clear_percentage_frequency"
"""What "how many usable dates per month over my field" asks of ``/aggregate``."""


def shape_agg(rng: np.random.Generator, tiles: list[Tile]) -> str:
    """Field + one year, the aggregations a "clear dates per month" question asks for."""
    return "/aggregate?" + urlencode(
        {
            "collections": _collection(rng),
            "bbox": _field_bbox(rng, tiles),
            "datetime": _year(rng),
            "aggregations": AGGREGATIONS,
        }
    )


def counted_by_search(server: str, path: str) -> str:
    """Without the extension (vanilla), a client counts the same items from ``/search``."""
    if server == "kappacat" or not path.startswith("/aggregate?"):
        return path
    query = {k: v for k, v in parse_qsl(urlsplit(path).query) if k != "aggregations"}
    return "/search?" + urlencode({**query, "limit": "1000"})


def matched_count(answer: dict[str, Any]) -> int:
    """What an aggregation and a search counted by hand must agree on: how many items."""
    if "aggregations" in answer:
        total = next(a for a in answer["aggregations"] if a["name"] == "total_count")
        return int(total["value"])
    return len(answer["features"])


def feature_ids(answer: dict[str, Any]) -> list[str]:
    """What two servers must agree on for a search: the item ids, in order."""
    return [f["id"] for f in answer["features"]]


@dataclass(frozen=True)
class Shape:
    """One kind of request: how to make it, how deep to page, who serves it, what must agree."""

    name: str
    what: str
    make: Callable[[np.random.Generator, list[Tile]], str]
    pages: int = 1  # > 1: each made request starts a chain of ``next`` links this long
    servers: tuple[str, ...] = SERVERS
    agree: Callable[[dict[str, Any]], Any] | None = feature_ids
    for_server: Callable[[str, str], str] | None = None
    """(server, made path) -> the path that server is sent (a reference without the extension)."""


SHAPES = {
    s.name: s
    for s in (
        Shape("a", "field (0.05 deg) + one year + eo:cloud_cover < N, newest first", shape_a),
        Shape("b", "as (a) + kappacat:clear_percentage > M", shape_b),
        Shape("c", "field + eo:cloud_cover < N, all dates, newest first", shape_c),
        Shape("d", "grid:code = one MGRS tile + one year, newest first", shape_d),
        Shape("e", "field, all dates: every page of next links to page 50", shape_e, pages=50),
        Shape(
            "agg",
            "field + one year: GET /aggregate (vanilla: the same items counted from /search)",
            shape_agg,
            agree=matched_count,
            for_server=counted_by_search,
        ),
    )
}
"""The request shapes measured, by name. Another shape is one more entry: e.g.
``Shape("agg", "aggregate ...", make_aggregate_path, servers=("kappacat",), agree=None)``."""


# --- the database ---------------------------------------------------------------------------


def _dataset(count: int, seed: int) -> str:
    return f"europe-{count}-seed{seed}"


def _stored(admin: str, name: str) -> dict[str, Any] | None:
    """What the kept benchmark database holds (its comment), if it exists."""
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if not row or not row[0]:
        return None
    found: dict[str, Any] = json.loads(row[0])
    return found


def load(
    admin: str, name: str, path: Path, count: int, seed: int, schemas: Path, resume: bool
) -> dict[str, Any]:
    """A fresh database migrated by ``kappacat migrate``, the items published in batches.

    With ``resume`` a load that was stopped goes on where it stopped: batches are loaded in
    the file's order, and the last one, which pypgstac may have committed in part (it commits
    per partition), is published again (an upsert).
    """
    database = DatabaseSettings(url=with_database(admin, name))
    done = 0
    if resume:
        with psycopg.connect(database.url) as conn:
            row = conn.execute("SELECT count(*) FROM pgstac.items").fetchone()
        done = int(row[0]) // BATCH * BATCH if row else 0
    else:
        drop_database(admin, name)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        migrate(database)
    skip = initial = done
    validator = StacValidator(schemas)
    load_before = os.getloadavg()
    started = time.perf_counter()
    for batch in follow_batches(path, BATCH):
        if skip >= len(batch):
            skip -= len(batch)
            continue
        batch, skip = batch[skip:], 0
        publish_items(database.url, {str(path): batch}, validator)
        done += len(batch)
        if done % 50_000 == 0:
            rate = (done - initial) / (time.perf_counter() - started)
            print(f"  {done} items, {rate:.0f} items/s", flush=True)
    seconds = time.perf_counter() - started
    analyse_started = time.perf_counter()
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    report = {
        "dataset": _dataset(count, seed),
        "items": done,
        "seconds": round(seconds, 1),
        "items_per_s": round((done - initial) / seconds),
        "resumed_at": initial,
        "vacuum_analyze_s": round(time.perf_counter() - analyse_started, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(report))
            )
        )
    return report


def sizes(url: str) -> dict[str, Any]:
    """Database size, the items' tables and their indexes (all partitions), in MB."""
    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        items = conn.execute(
            "SELECT sum(pg_table_size(relid)), sum(pg_indexes_size(relid)), count(*) FILTER"
            " (WHERE isleaf) FROM pg_partition_tree('pgstac.items')"
        ).fetchone()
        count = conn.execute("SELECT count(*) FROM pgstac.items").fetchone()
    assert total and items and count
    mb = 1024 * 1024
    return {
        "items": int(count[0]),
        "database_mb": round(int(total[0]) / mb),
        "items_tables_mb": round(int(items[0]) / mb),
        "items_indexes_mb": round(int(items[1]) / mb),
        "partitions": int(items[2]),
    }


def loaded_tiles(url: str, tiles: list[Tile]) -> list[Tile]:
    """The tiles whose items are all in the database (all of them once the load is complete;
    the file holds the tiles one after the other, and batches are loaded in its order)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pgstac.items").fetchone()
    left = int(row[0]) if row else 0
    loaded = []
    for index, tile in enumerate(tiles):
        left -= len(LEVELS) * sum(1 for _ in acquisitions(tile, index))
        if left < 0:
            break
        loaded.append(tile)
    return loaded or tiles[:1]


# --- the searches ---------------------------------------------------------------------------


def _path(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def chain(base: str, first: str, pages: int) -> list[tuple[str, dict[str, Any]]]:
    """The paths and answers of ``pages`` pages from ``first``, following ``next`` links."""
    out = []
    path: str | None = first
    while path and len(out) < pages:
        answer = httpx.get(base + path, timeout=120)
        answer.raise_for_status()
        body = answer.json()
        out.append((path, body))
        path = next((_path(x["href"]) for x in body.get("links", []) if x["rel"] == "next"), None)
    return out


def requests_for(
    shape: Shape, bases: dict[str, str], tiles: list[Tile], count: int, seed: int
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Per server, the paths to send for a shape; and how many sampled answers agreed."""
    rng = np.random.default_rng(seed)
    firsts = [shape.make(rng, tiles) for _ in range(max(1, count // shape.pages))]
    paths: dict[str, list[str]] = {s: [] for s in shape.servers}
    sample = firsts[: 10 if shape.pages == 1 else 3]
    agreed, empty = 0, 0
    for n, first in enumerate(firsts):
        answers = {}
        for server in shape.servers:
            if shape.pages == 1:
                path = shape.for_server(server, first) if shape.for_server else first
                paths[server].append(path)
                if n < len(sample):
                    answer = httpx.get(bases[server] + path, timeout=120)
                    answer.raise_for_status()
                    answers[server] = [answer.json()]
            else:
                pages = chain(bases[server], first, shape.pages)
                paths[server].extend(p for p, _ in pages)
                answers[server] = [body for _, body in pages]
        if n < len(sample) and shape.agree:
            seen = [[shape.agree(b) for b in answers[s]] for s in shape.servers]
            agreed += all(x == seen[0] for x in seen)
            empty += not any(seen[0])
    return paths, {"compared": len(sample) if shape.agree else 0, "agreed": agreed, "empty": empty}


def search_rounds(
    args: argparse.Namespace, database: DatabaseSettings, tiles: list[Tile]
) -> dict[str, Any]:
    """Both servers up, the shapes in alternating rounds; per shape and server the runs."""
    read = reader_url(database.url, DatabaseSettings().read_role)
    parts = urlsplit(read)
    ours = {"KAPPACAT_DATABASE_URL": database.url, "KAPPACAT_DATABASE_READ_URL": read}
    vanilla = {
        "PGUSER": parts.username or "",
        "PGPASSWORD": parts.password or "unused",
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGDATABASE": args.database,
    }
    shapes = [SHAPES[name] for name in args.shapes]
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        s.name: {server: [] for server in s.servers} for s in shapes
    }
    checks = {}
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
        loads = {}
        for shape in shapes:
            loads[shape.name], checks[shape.name] = requests_for(
                shape, bases, tiles, args.requests, seed=ord(shape.name[0])
            )
            print(f"shape {shape.name}: {checks[shape.name]}", flush=True)
            for server, paths in loads[shape.name].items():  # warm up
                run(bases[server], paths[: max(CLIENTS, len(paths) // 4)], CLIENTS)
        for r in range(args.rounds):
            for shape in shapes:
                order = list(shape.servers) if r % 2 == 0 else list(reversed(shape.servers))
                for server in order:
                    paths = loads[shape.name][server]
                    before = cpu_seconds(pids[server])
                    summary = run(bases[server], paths, CLIENTS).summary()
                    summary["server_cpu_ms"] = round(
                        1000 * (cpu_seconds(pids[server]) - before) / len(paths), 2
                    )
                    summary["rss_mb"] = rss_mb(pids[server])
                    summary["loadavg_1m"] = round(os.getloadavg()[0], 2)
                    runs[shape.name][server].append(summary)
                    print(f"round {r + 1} {shape.name} {server:8} {summary}", flush=True)
    return {"checks": checks, "runs": runs, "median": _medians(runs)}


def _medians(runs: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, Any]:
    return {
        shape: {
            s: {k: round(statistics.median(r[k] for r in rs), 2) for k in rs[0]}
            for s, rs in by_server.items()
        }
        for shape, by_server in runs.items()
    }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Generate or reuse the items and the database, then measure; the results as JSON."""
    admin = os.environ.get(
        "KAPPACAT_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    load_before = os.getloadavg()
    started = time.perf_counter()
    path = cache_path(CACHE, args.items, args.seed)
    stored = _stored(admin, args.database)
    if args.as_loaded:  # e.g. a load stopped part of the way: what is there is measured
        stored = stored or {"dataset": "as loaded, not complete"}
    elif args.reload or not stored or stored.get("dataset") != _dataset(args.items, args.seed):
        generator = None
        if not path.is_file() and not path.with_suffix(".partial").exists():
            # generated in a process of its own while this one loads what is written
            CACHE.mkdir(parents=True, exist_ok=True)
            generator = multiprocessing.Process(target=generate, args=(args.items, path, args.seed))
            generator.start()
            while not path.with_suffix(".partial").exists() and generator.is_alive():
                time.sleep(0.2)
        print(f"publishing {path} into {args.database} ...", flush=True)
        stored = load(admin, args.database, path, args.items, args.seed, args.schemas, args.resume)
        if generator:
            generator.join()
    database = DatabaseSettings(url=with_database(admin, args.database))
    migrate(database)  # a no-op on a database it migrated: the settings under test are set
    tiles = loaded_tiles(database.url, covered_tiles(path))
    print(f"searches go to the {len(tiles)} tiles loaded whole from {path}", flush=True)
    report: dict[str, Any] = {
        **report_header("bench.bench_million", load_before),
        "settings": {
            "items": args.items,
            "seed": args.seed,
            "database": args.database,
            "tiles": len(tiles),
            "rounds": args.rounds,
            "requests": args.requests,
            "clients": CLIENTS,
            "workers": args.workers,
            "shapes": {n: SHAPES[n].what for n in args.shapes},
        },
        "generated_s": round(time.perf_counter() - started, 1),
        "load": stored,
        "size": sizes(database.url),
    }
    print(f"load {stored}\nsize {report['size']}", flush=True)
    if args.shapes:
        report["search"] = search_rounds(args, database, tiles)
    return report


def markdown(report: dict[str, Any]) -> str:
    """The search results as a Markdown table: per shape, both servers and their ratio."""
    lines = [
        "| shape | KappaCat p50 / p95 ms | vanilla p50 / p95 ms | p95 vanilla / KappaCat "
        "| KappaCat CPU ms/request | same ids |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    search = report.get("search", {})
    for shape, by_server in search.get("median", {}).items():
        ours, theirs = by_server.get("kappacat", {}), by_server.get("vanilla")
        check = search["checks"][shape]
        ratio = f"{theirs['p95_ms'] / ours['p95_ms']:.1f}" if theirs else "-"
        lines.append(
            f"| {shape} | {ours['p50_ms']} / **{ours['p95_ms']}** | "
            + (f"{theirs['p50_ms']} / {theirs['p95_ms']}" if theirs else "-")
            + f" | {ratio} | {ours['server_cpu_ms']} | {check['agreed']} of {check['compared']}"
            f" ({check['empty']} empty) |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="items in the catalogue")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated items")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--requests", type=int, default=200, help="requests per shape and run")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--reload", action="store_true", help="load the items again")
    parser.add_argument("--database", default=NAME, help="the (kept) database to measure")
    parser.add_argument("--resume", action="store_true", help="go on with a stopped load")
    parser.add_argument(
        "--as-loaded", action="store_true", help="measure the database as it is, load nothing"
    )
    parser.add_argument("--schemas", type=Path, default=REPO.parent / "shared/data/stac-schemas")
    args = parser.parse_args()
    report = benchmark(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"million-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nresults in {out}\n")
    print(markdown(report))


if __name__ == "__main__":
    main()

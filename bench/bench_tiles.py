"""Tile latency: KappaCat's tiler and a vanilla titiler-pgstac app, same database, same COGs.

p50/p95 of item tiles and of collection mosaic tiles (zoom 8 to 12, WebMercatorQuad, 256 px
PNG in the legend colours) under 8 concurrent clients on loopback. Both servers run side by
side under the same uvicorn options; rounds alternate which one goes first.

    .venv/bin/python -m bench.bench_tiles [--rounds 3] [--requests 400] [--workers 1]
        [--database kappacat_bench_million] [--tiles mosaic]

``--database`` measures with a kept catalogue around the four items (``bench_million``'s
million items): they are added to it, and it is kept.

Needs PostgreSQL with PostGIS (KAPPACAT_TEST_ADMIN_URL or postgresql://postgres@127.0.0.1:5432/
postgres). Writes bench/results/tiles-*.json and prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
import morecantile
import numpy as np
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from bench.bench_tiles_data import (
    COLLECTION,
    DATETIME,
    drop_database,
    make_items,
    prepare_database,
)
from bench.bench_tiles_load import RunResult, run
from catalog.legend import legend_colormap
from catalog.settings import DatabaseSettings, with_database
from catalog.stac_validation import StacValidator
from ingest.publish import publish_items
from kappacat.localdb import free_port, wait_until
from tests.servers import http_answers

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache" / "tiles"
RESULTS = REPO / "bench" / "results"
ZOOMS = range(8, 13)
CLIENTS = 8
TMS = morecantile.tms.get("WebMercatorQuad")


def reader_url(url: str, role: str) -> str:
    """``url`` with the read-only role as user."""
    parts = urlsplit(url)
    netloc = f"{role}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: parent pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def report_header(module: str, load_before: tuple[float, float, float]) -> dict[str, Any]:
    """When, how it was run and on what: the start of every benchmark's JSON report."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([f"python -m {module}", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
    }


def rss_mb(pid: int) -> float:
    """Resident memory (MB) of a process and its children (the uvicorn workers) right now."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        if int(status.parent.name) == pid or int(fields["PPid"]) == pid:
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return round(total / 1024, 1)


@contextmanager
def uvicorn_server(
    target: list[str], env: dict[str, str], workers: int, health: str = "/healthz"
) -> Iterator[tuple[str, int]]:
    """``uvicorn TARGET`` on a free port with quiet logs; yields its URL and pid once healthy."""
    port = free_port()
    with tempfile.TemporaryDirectory() as cwd:  # no stray .env file is read
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                *target,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            cwd=cwd,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            if not wait_until(lambda: http_answers(base + health), proc, 90):
                if proc.poll() is not None:
                    raise RuntimeError(f"{target} exited with {proc.returncode}")
                raise RuntimeError(f"{target} did not become healthy")
            yield base, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def tile_paths(
    bbox: tuple[float, float, float, float], prefix: str, query: str, count: int, seed: int
) -> list[str]:
    """``count`` tile URLs inside ``bbox``, spread evenly over the zooms, in random order."""
    rng = np.random.default_rng(seed)
    by_zoom = {z: list(TMS.tiles(*bbox, zooms=[z])) for z in ZOOMS}
    paths = []
    for i in range(count):
        tiles = by_zoom[ZOOMS[i % len(ZOOMS)]]
        t = tiles[int(rng.integers(len(tiles)))]
        paths.append(f"{prefix}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png?{query}")
    rng.shuffle(paths)
    return paths


def decode(content: bytes) -> np.ndarray:
    """A PNG's pixels as RGBA (a paletted PNG expanded through its palette)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(content) as mem, mem.open() as src:
            data = src.read()
            if src.count == 1:
                lut = np.zeros((256, 4), dtype=np.uint8)
                for value, rgba in src.colormap(1).items():
                    lut[value] = rgba
                data = np.moveaxis(lut[data[0]], -1, 0)
    return data


def workloads(
    items: list[dict[str, Any]], count: int, seed: int
) -> dict[str, dict[str, list[str]]]:
    """Per workload (item, mosaic), the request paths for each server."""
    colormap = json.dumps({str(k): list(v) for k, v in legend_colormap().items()})
    vanilla_common = {"assets": "mask", "colormap": colormap}
    item = items[0]
    item_prefix = f"/collections/{COLLECTION}/items/{quote(item['id'])}"
    item_bbox = tuple(item["bbox"])
    xs = [b for i in items for b in (i["bbox"][0], i["bbox"][2])]
    ys = [b for i in items for b in (i["bbox"][1], i["bbox"][3])]
    all_bbox = (min(xs), min(ys), max(xs), max(ys))
    mosaic_prefix = f"/collections/{COLLECTION}"
    return {
        "item": {
            "kappacat": tile_paths(item_bbox, item_prefix, "", count, seed),
            "vanilla": tile_paths(item_bbox, item_prefix, urlencode(vanilla_common), count, seed),
        },
        "mosaic": {
            "kappacat": tile_paths(
                all_bbox, mosaic_prefix, urlencode({"datetime": DATETIME}), count, seed
            ),
            "vanilla": tile_paths(
                all_bbox,
                mosaic_prefix,
                urlencode({**vanilla_common, "datetime": DATETIME}),
                count,
                seed,
            ),
        },
    }


def same_pixels(bases: dict[str, str], paths: dict[str, list[str]], count: int = 20) -> float:
    """Share of pixels both servers draw alike over the first tiles of a workload.

    Not 1.0: GDAL's warper (vanilla) places pixels up to 1/8 pixel off (its approximate
    transformer) where KappaCat's reader takes the source pixel under each pixel centre.
    """
    same = total = 0
    for i in range(count):
        answers = [httpx.get(bases[s] + paths[s][i], timeout=30) for s in bases]
        if any(a.status_code != 200 for a in answers):
            continue
        first, second = (decode(a.content) for a in answers)
        same += int(np.all(first == second, axis=0).sum())
        total += first.shape[1] * first.shape[2]
    return round(same / total, 4) if total else float("nan")


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare the data, start both servers, run the rounds; the results as JSON."""
    admin = os.environ.get(
        "KAPPACAT_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    print("preparing COGs and database ...", flush=True)
    load_before = os.getloadavg()
    items = make_items(CACHE)
    if args.database:  # a kept catalogue (e.g. bench_million's): the four items added to it
        name = args.database
        database = DatabaseSettings(url=with_database(admin, name))
        publish_items(database.url, {"bench": items}, StacValidator(args.schemas))
    else:
        name = "kappacat_bench_tiles"
        database = prepare_database(admin, name, items, args.schemas)
    read = reader_url(database.url, DatabaseSettings().read_role)
    loads = {w: p for w, p in workloads(items, args.requests, seed=1).items() if w in args.tiles}
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        w: {"kappacat": [], "vanilla": []} for w in loads
    }
    ours = {
        "KAPPACAT_DATABASE_URL": database.url,
        "KAPPACAT_DATABASE_READ_URL": read,
        "KAPPACAT_TILER_STORAGE_ROOTS": str(CACHE.resolve()),
    }
    vanilla = {"DATABASE_URL": read}
    try:
        with (
            uvicorn_server(["--factory", "tiler.app:create_app"], ours, args.workers) as ours_,
            uvicorn_server(["titiler.pgstac.main:app"], vanilla, args.workers) as vanilla_,
        ):
            bases = {"kappacat": ours_[0], "vanilla": vanilla_[0]}
            pids = {"kappacat": ours_[1], "vanilla": vanilla_[1]}
            identical = {w: same_pixels(bases, loads[w]) for w in loads}
            for server, base in bases.items():  # warm up: caches, connections, GDAL
                for w in loads:
                    run(base, loads[w][server][: args.requests // 4], CLIENTS)
            for r in range(args.rounds):
                order = list(bases) if r % 2 == 0 else list(reversed(bases))
                for w in loads:
                    for server in order:
                        before = cpu_seconds(pids[server])
                        result: RunResult = run(bases[server], loads[w][server], CLIENTS)
                        summary = result.summary()
                        used = cpu_seconds(pids[server]) - before
                        summary["cpu_ms_per_tile"] = round(1000 * used / len(loads[w][server]), 2)
                        summary["rss_mb"] = rss_mb(pids[server])
                        runs[w][server].append(summary)
                        print(f"round {r + 1} {w:6} {server:8} {summary}", flush=True)
    finally:
        if not args.database:
            drop_database(admin, name)
    return {
        **report_header("bench.bench_tiles", load_before),
        "settings": {
            "rounds": args.rounds,
            "requests": args.requests,
            "clients": CLIENTS,
            "workers": args.workers,
            "zooms": list(ZOOMS),
            "items": len(items),
            "database": args.database or name,
        },
        "identical_pixels": identical,
        "runs": runs,
        "median": {
            w: {
                s: {k: round(statistics.median(r[k] for r in rs), 2) for k in rs[0]}
                for s, rs in by_server.items()
            }
            for w, by_server in runs.items()
        },
    }


def markdown(report: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| tiles | server | p50 ms | p95 ms | mean ms | requests/s | server CPU ms/tile "
        "| server RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workload, by_server in report["median"].items():
        for server, m in by_server.items():
            lines.append(
                f"| {workload} | {server} | {m['p50_ms']} | {m['p95_ms']} | {m['mean_ms']} | "
                f"{m['rps']} | {m['cpu_ms_per_tile']} | {m['rss_mb']} |"
            )
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--requests", type=int, default=400, help="requests per run")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    parser.add_argument("--schemas", type=Path, default=REPO.parent / "shared/data/stac-schemas")
    parser.add_argument(
        "--database",
        help="an existing catalogue database to add the four items to and keep (default: a "
        "fresh database with the four items alone, dropped afterwards)",
    )
    parser.add_argument(
        "--tiles", nargs="*", default=["item", "mosaic"], choices=["item", "mosaic"]
    )
    args = parser.parse_args()
    report = benchmark(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"tiles-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nshare of identical pixels: {report['identical_pixels']}; results in {out}\n")
    print(markdown(report))


if __name__ == "__main__":
    main()

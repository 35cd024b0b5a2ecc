"""Benchmark: the mask COG's codec. File size, write time and tile read time of real masks
written by the one COG writer (``inference/writer.py``) with ZSTD, DEFLATE and LZW.

Run from the repository root::

    nice -n 10 .venv/bin/python bench/bench_codecs.py --runs 3

Masks: the mask ``kappacat mask`` makes of the sample product (seed 0, ``--size`` px a side,
10980 by default: a full product; generated once into ``bench/.cache/codecs``; or
``--mask PATH``), and the
hand-made reference mask of ``../shared/data/labelled`` (512 x 512 px at 30 m, mapped to the
legend). For each codec, in alternating order per run: the write time of
``write_mask_cog`` (median, wall and CPU), the file size, and the median CPU time rio-tiler
takes to read a WebMercatorQuad tile (nearest) from the written COG, at zoom 11 (overviews)
and 13 (full resolution), over up to 64 tiles spread over the mask at each zoom, datasets
opened once as the tiler keeps them. Prints a Markdown table for BENCHMARKS.md.

Which readers decode each codec is not measured here but looked up in their sources and
recorded with the results (BENCHMARKS.md, "Mask COG codec").
"""

from __future__ import annotations

import argparse
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
from morecantile import tms as default_tms
from rasterio.crs import CRS
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from catalog.legend import CLEAR, CLOUD, CLOUD_SHADOW  # noqa: E402
from inference.grid import Grid  # noqa: E402
from inference.writer import write_mask_cog  # noqa: E402

CODECS = ("ZSTD", "DEFLATE", "LZW")
ZOOMS = (11, 13)
TILES_PER_ZOOM = 64
SECTION = "## Mask COG codec"
WEB_MERCATOR = default_tms.get("WebMercatorQuad")


def pipeline_mask(cache: Path, size: int) -> Path:
    """The mask ``kappacat mask`` makes of the ``size`` px sample product (cached)."""
    cache = cache / f"L1C-{size}-seed0"
    mask = cache / "mask.tif"
    if mask.exists():
        return mask
    cache.mkdir(parents=True, exist_ok=True)
    kappacat = [sys.executable, "-m", "kappacat"]
    if not list(cache.glob("*.SAFE")):
        command = [*kappacat, "sample-product", str(cache), "--size", str(size), "--seed", "0"]
        subprocess.run(command, check=True)
    [safe] = sorted(cache.glob("*.SAFE"))
    subprocess.run([*kappacat, "mask", str(safe), str(mask)], check=True)
    return mask


def reference_mask(shared: Path) -> tuple[np.ndarray, Grid]:
    """The labelled scene's hand-made mask in legend classes, on a 30 m UTM grid."""
    labels = np.load(shared / "labelled" / "ukis_sentinel2_512x512_30m.npz")["msk"][..., 0]
    classes = np.full(labels.shape, CLEAR, dtype=np.uint8)
    classes[labels == 0] = CLOUD_SHADOW
    classes[labels == 4] = CLOUD
    return classes, Grid(
        CRS.from_epsg(32632), 600000.0, 5300040.0, 30.0, labels.shape[1], labels.shape[0]
    )


def read_mask(path: Path) -> tuple[np.ndarray, Grid]:
    """The classes and grid of a mask COG."""
    with rasterio.open(path) as src:
        t = src.transform
        return src.read(1), Grid(src.crs, t.c, t.f, t.a, src.width, src.height)


def tiles_of(path: Path, zoom: int, most: int = TILES_PER_ZOOM) -> list[tuple[int, int, int]]:
    """WebMercatorQuad tiles of a zoom level with mask pixels: all, or ``most`` of them
    spread evenly over the mask."""
    with Reader(str(path)) as src:
        west, south, east, north = src.get_geographic_bounds(WEB_MERCATOR.rasterio_geographic_crs)
        found = [
            (t.x, t.y, t.z)
            for t in WEB_MERCATOR.tiles(west, south, east, north, [zoom])
            if src.tile_exists(t.x, t.y, t.z)
        ]
    step = max(1, len(found) // most)
    return found[::step][:most]


def time_tiles(path: Path, tiles: list[tuple[int, int, int]]) -> float:
    """Median CPU ms to read one 256 px tile, the dataset opened once (as the tiler keeps
    it). CPU time of this process, not wall time: on a busy machine the wall time of a
    5 ms read is mostly waiting for a core."""
    times = []
    with rasterio.Env(GDAL_CACHEMAX=64), Reader(str(path)) as src:
        for x, y, z in tiles:
            start = time.process_time()
            try:
                src.tile(x, y, z, resampling_method="nearest")
            except TileOutsideBounds:  # touches the bounds, no pixel of the mask inside
                continue
            times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def measure(
    name: str, classes: np.ndarray, grid: Grid, runs: int, work: Path
) -> list[dict[str, object]]:
    """Size, write and tile read times of one mask with every codec."""
    results: dict[str, dict[str, list[float]]] = {
        c: {"write": [], "write_cpu": [], "size": []} for c in CODECS
    }
    tiles: dict[int, list[tuple[int, int, int]]] = {}
    for run in range(runs):
        order = CODECS if run % 2 == 0 else CODECS[::-1]
        for codec in order:
            dst = work / f"{name}-{codec}.tif"
            start, cpu = time.perf_counter(), time.process_time()
            write_mask_cog(classes, grid, dst, compression=codec)  # type: ignore[arg-type]
            results[codec]["write"].append(time.perf_counter() - start)
            results[codec]["write_cpu"].append(time.process_time() - cpu)
            results[codec]["size"].append(dst.stat().st_size)
            for zoom in ZOOMS:
                tiles.setdefault(zoom, tiles_of(dst, zoom))
                results[codec].setdefault(f"z{zoom}", []).append(time_tiles(dst, tiles[zoom]))
    rows = []
    for codec in CODECS:
        r = results[codec]
        rows.append(
            {
                "mask": name,
                "codec": codec,
                "size_mb": statistics.median(r["size"]) / 1e6,
                "write_s": statistics.median(r["write"]),
                "writes": r["write"],
                "write_cpu_s": statistics.median(r["write_cpu"]),
                **{f"z{z}_ms": statistics.median(r[f"z{z}"]) for z in ZOOMS},
                **{f"z{z}_tiles": len(tiles[z]) for z in ZOOMS},
            }
        )
    return rows


def table(rows: list[dict[str, object]]) -> str:
    """The results as a Markdown table, ratios against ZSTD (today's default) of the same mask."""
    head = (
        "| mask | codec | size | size / ZSTD | write wall, median (runs) | write CPU | "
        "tile z11 CPU (overviews) | tile z13 CPU (full res) | z13 / ZSTD |\n"
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"
    )
    lines = [head]
    for row in rows:
        ref = next(r for r in rows if r["mask"] == row["mask"] and r["codec"] == "ZSTD")
        writes = ", ".join(f"{w:.2f}" for w in row["writes"])  # type: ignore[attr-defined]
        lines.append(
            f"| {row['mask']} | {row['codec']} | {row['size_mb']:.3f} MB | "
            f"{row['size_mb'] / ref['size_mb']:.2f} | {row['write_s']:.2f} s ({writes}) | "  # type: ignore[operator]
            f"{row['write_cpu_s']:.2f} s | "
            f"{row['z11_ms']:.1f} ms ({row['z11_tiles']} tiles) | "
            f"{row['z13_ms']:.1f} ms ({row['z13_tiles']} tiles) | "
            f"{row['z13_ms'] / ref['z13_ms']:.2f} |"  # type: ignore[operator]
        )
    return "\n".join(lines)


def main() -> None:
    """Measure and print (and with ``--write``, record) the codec table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="writes per codec and mask")
    parser.add_argument("--mask", type=Path, help="a mask COG (default: kappacat mask's)")
    parser.add_argument("--size", type=int, default=10980, help="sample product size in px")
    parser.add_argument("--cache", type=Path, default=REPO / "bench" / ".cache" / "codecs")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[0]
    masks = {
        f"{args.mask.name if args.mask else f'sample product, {args.size} px'} (kappacat mask)": (
            read_mask(args.mask or pipeline_mask(args.cache, args.size))
        ),
        "reference (labelled, 512 px)": reference_mask(args.shared),
    }
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, (classes, grid)) in enumerate(masks.items()):
            rows += measure(f"m{i}", classes, grid, args.runs, Path(tmp))
            for row in rows[-len(CODECS) :]:
                row["mask"] = name
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[0]
    command = shlex.join(["python", "bench/bench_codecs.py", *sys.argv[1:]])
    text = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.processor() or 'x86_64'}, "
        f"Python {platform.python_version()}, rasterio {rasterio.__version__} "
        f"(GDAL {rasterio.__gdal_version__}); load average before / after: "
        f"{load_before} / {load_after}. `{command}`\n\n{table(rows)}\n"
    )
    print(f"{SECTION} (for BENCHMARKS.md)\n\n{text}")


if __name__ == "__main__":
    main()

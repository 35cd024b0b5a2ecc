"""Benchmark: what making semi-transparent cloud from B10 / the SCL costs on a full product.

Run from the repository root::

    .venv/bin/python bench/bench_semi_transparent.py --runs 3

For a 10980 x 10980 px generated L1C product (and, with ``--levels L1C L2A``, an L2A one) it
times ``kappacat mask`` with the default card and with the same card without its
semi_transparent_cloud rule, in alternating fresh processes (wall time, peak RSS), and writes
medians and ratios side by side into BENCHMARKS.md (section "Inference: semi-transparent
cloud evidence"). Products are generated once into the cache folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_mask import Run, machine, time_mask, versions, write_section  # noqa: E402
from inference.card import shipped_cards  # noqa: E402
from inference.sample import write_sample_product  # noqa: E402

SECTION = "## Inference: semi-transparent cloud evidence"
CARDS = {"L1C": "ukis-csmask-6b-l1c", "L2A": "ukis-csmask-6b-l2a"}


def product(cache: Path, level: str, size: int, seed: int) -> Path:
    """The SAFE of a generated product (with thin cirrus), made once into ``cache``."""
    folder = cache / f"{level}-{size}-seed{seed}-cirrus"
    safes = sorted(folder.glob("*.SAFE"))
    if safes:
        return safes[0]
    print(f"generating a {size} px {level} sample product into {folder} ...", flush=True)
    return write_sample_product(folder, size=size, level=level, seed=seed).path


def card_without_rule(card_id: str, folder: Path) -> Path:
    """A copy of a shipped card with its semi_transparent_cloud rule taken out."""
    data = yaml.safe_load(shipped_cards()[card_id].read_text())
    data["semi_transparent_cloud"] = None
    data["id"] = f"{card_id}-no-rule"
    path = folder / f"{card_id}-no-rule.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def class_3_share(path: Path) -> float:
    """Semi-transparent cloud in percent of the mask's pixels inside the footprint."""
    with rasterio.open(path) as src:
        counts = np.zeros(256, dtype=np.int64)
        for _, window in src.block_windows(1):
            counts += np.bincount(src.read(1, window=window).ravel(), minlength=256)
    inside = counts[1:6].sum()
    return 100.0 * counts[3] / inside if inside else 0.0


def measure(safe: Path, level: str, runs: int, work: Path) -> tuple[list[Run], list[Run], float]:
    """Alternating runs with and without the rule; and the class-3 share with it."""
    kappacat = str(Path(sys.executable).with_name("kappacat"))
    plain = card_without_rule(CARDS[level], work)
    out = work / f"{level}.tif"
    commands = {
        "rule": [kappacat, "mask", str(safe), str(out), "--model", CARDS[level], "--quiet"],
        "none": [kappacat, "mask", str(safe), str(out), "--model", str(plain), "--quiet"],
    }
    timed: dict[str, list[Run]] = {"rule": [], "none": []}
    share = 0.0
    for i in range(runs):
        order = ("none", "rule") if i % 2 == 0 else ("rule", "none")
        for name in order:
            run = time_mask(commands[name])
            timed[name].append(run)
            if name == "rule":
                share = class_3_share(out)
            print(
                f"{level} run {i + 1} {name}: {run.wall_s:.1f} s, CPU {run.cpu_s:.1f} s, "
                f"{run.peak_rss_mb:.0f} MB "
                f"({run.timings}), load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    return timed["rule"], timed["none"], share


def _stage_s(run: Run, stage: str) -> float:
    """Seconds of one stage of a run, from the timings ``kappacat mask`` prints."""
    parts = dict(p.split(" ", 1) for p in run.timings.split(", ") if " " in p)
    return float(parts.get(stage, "nan s").removesuffix(" s"))


HEADER = [
    "| product | with the rule: median wall (runs) | without: median wall (runs) | wall ratio "
    "| CPU with / without (ratio) | peak RSS with / without | evidence read (runs) "
    "| evidence / total | class 3 |",
    "| --- | --- | --- | ---: | --- | --- | --- | ---: | ---: |",
]


def table_row(level: str, rule: list[Run], none: list[Run], share: float) -> str:
    """One product's line of the table: medians side by side, their ratios, the stage."""
    with_s = statistics.median(r.wall_s for r in rule)
    without_s = statistics.median(r.wall_s for r in none)
    cpu_with = statistics.median(r.cpu_s for r in rule)
    cpu_without = statistics.median(r.cpu_s for r in none)
    rss_with = max(r.peak_rss_mb for r in rule) / 1024
    rss_without = max(r.peak_rss_mb for r in none) / 1024
    name = "B10 at 60 m" if level == "L1C" else "SCL at 20 m"
    evidence = ", ".join(f"{_stage_s(r, 'evidence'):.1f}" for r in rule)
    of_run = statistics.median(_stage_s(r, "evidence") / _stage_s(r, "total") for r in rule)
    return (
        f"| {level} | **{with_s:.1f} s** ({', '.join(f'{r.wall_s:.1f}' for r in rule)}) "
        f"| {without_s:.1f} s ({', '.join(f'{r.wall_s:.1f}' for r in none)}) "
        f"| {with_s / without_s:.3f} | {cpu_with:.1f} / {cpu_without:.1f} s "
        f"({cpu_with / cpu_without:.3f}) | {rss_with:.2f} / {rss_without:.2f} GB "
        f"| {name}: {evidence} s | **{100 * of_run:.1f} %** | {share:.1f} % |"
    )


def section(args: argparse.Namespace, rows: list[str], load: tuple[float, float]) -> str:
    """The BENCHMARKS.md section of a run."""
    return "\n".join(
        [
            SECTION,
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; {versions()}.",
            f"Load average before / after: {load[0]:.1f} / {load[1]:.1f}.",
            "",
            f"`kappacat mask` on generated {args.size} x {args.size} px products with thin cirrus "
            f"(baseline 05.09, seed {args.seed}), with the default card and with the same card "
            "without its `semi_transparent_cloud` rule, in alternating fresh processes; "
            f"medians of {args.runs} runs each. CPU time (user + system of the process) depends "
            "less than wall time on what else the machine is doing; the evidence stage's own "
            "time, against the whole run, is the steadiest measure of what the rule costs.",
            "",
            *HEADER,
            *rows,
            "",
            "The evidence is read once, after the model has run and its windows are freed (so "
            "that it adds nothing to their peak memory): B10 at its own 60 m with blue averaged "
            "to it (L1C), or the SCL at its own 20 m (L2A), kept as bits; the mask's clear "
            "pixels with evidence become class 3, 512 rows of 10 m at a time. The section "
            '"Inference: one full product" above was measured before the rule existed.',
            "",
            "Reproduce:",
            "",
            "```sh",
            f".venv/bin/python bench/bench_semi_transparent.py --runs {args.runs} "
            f"--levels {' '.join(args.levels)}",
            "```",
            "",
        ]
    )


def parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each variant")
    parser.add_argument("--size", type=int, default=10980, help="product size in 10 m px")
    parser.add_argument("--seed", type=int, default=0, help="sample product seed")
    parser.add_argument("--levels", nargs="+", default=["L1C"], choices=sorted(CARDS))
    default_cache = Path(os.environ.get("KAPPACAT_BENCH_CACHE", "~/.cache/kappacat/bench"))
    parser.add_argument("--cache", type=Path, default=default_cache, help="product cache")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print, do not edit the file")
    return parser


def main() -> None:
    """Run the benchmark and record it."""
    args = parser().parse_args()
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="kappacat-bench-") as tmp:
        for level in args.levels:
            safe = product(args.cache.expanduser(), level, args.size, args.seed)
            rule, none, share = measure(safe, level, args.runs, Path(tmp))
            rows.append(table_row(level, rule, none, share))
    text = section(args, rows, (load, os.getloadavg()[0]))
    print(text)
    if not args.no_write:
        write_section(args.output, text, SECTION)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""``kappacat sample-product``."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import typer

from catalog.legend import LEGEND_BY_VALUE, VALID
from inference.sample.errors import SampleProductError


def sample_product(
    outdir: Path = typer.Argument(..., help="Directory to write the product and its truth into."),
    size: int = typer.Option(1098, "--size", help="10 m pixels per side (10980 = a full tile)."),
    level: str = typer.Option("L1C", "--level", help="Product level: L1C or L2A."),
    baseline: str = typer.Option("05.09", "--baseline", help="Processing baseline, e.g. 05.09."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed, the same scene."),
    date: str | None = typer.Option(
        None, "--date", help="Sensing date YYYY-MM-DD (default 2023-06-25)."
    ),
    tile: str = typer.Option("32UQD", "--tile", help="MGRS tile, e.g. 32UQD."),
    fmt: str = typer.Option(
        "safe", "--format", help="safe (SAFE directory, JP2) or stac (COGs + STAC item)."
    ),
) -> None:
    """Write a generated Sentinel-2 product with clouds and shadows, and its truth mask."""
    try:
        day = datetime.strptime(date, "%Y-%m-%d").date() if date else None
    except ValueError:
        raise typer.BadParameter(
            f"{date!r} is not a date YYYY-MM-DD", param_hint="--date"
        ) from None
    from inference.sample.generate import write_sample_product

    started = time.perf_counter()
    try:
        product = write_sample_product(
            outdir,
            size=size,
            level=level,
            baseline=baseline,
            seed=seed,
            date=day,
            tile=tile,
            fmt=fmt,
        )
    except SampleProductError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    elapsed = time.perf_counter() - started
    valid = sum(n for v, n in product.class_counts.items() if v in VALID) or 1
    shares = ", ".join(
        f"{LEGEND_BY_VALUE[v].name} {100.0 * product.class_counts.get(v, 0) / valid:.1f} %"
        for v in sorted(VALID)
    )
    typer.echo(f"truth: {product.truth_path} ({shares}; {elapsed:.1f} s)", err=True)
    typer.echo(str(product.path))


def register(app: typer.Typer) -> None:
    """Add ``sample-product`` to the ``kappacat`` command."""
    app.command("sample-product")(sample_product)

"""``kappacat mask`` and ``kappacat sample-product``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from catalog.legend import LEGEND_BY_VALUE
from inference.errors import InferenceError, ModelCardError, ProductError

EXIT_PRODUCT_ERROR = 2
EXIT_CARD_ERROR = 3
EXIT_INFERENCE_ERROR = 1


def mask(
    source: str = typer.Argument(
        ..., help="A .SAFE directory, a SAFE .zip, or a STAC item (file or URL)."
    ),
    out: Path = typer.Argument(..., help="The mask COG to write (a thumbnail goes beside it)."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model card: a shipped card id or a YAML/JSON file."
    ),
    resolution: float | None = typer.Option(
        None, "--resolution", "-r", min=1.0, help="Processing resolution in metres (card's)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", "-t", min=0, help="onnxruntime threads (0 = all cores)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Mask clouds and cloud shadows in one Sentinel-2 product, without database or broker."""
    from inference.card import load_card
    from inference.engine import run_mask
    from inference.settings import InferenceSettings

    console = Console(stderr=True)
    overrides: dict[str, object] = {}
    if resolution is not None:
        overrides["resolution"] = resolution
    if threads is not None:
        overrides["threads"] = threads
    try:
        settings = InferenceSettings(**overrides)  # type: ignore[arg-type]
        card = load_card(model) if model else None
        with Progress(
            TextColumn("[bold]masking"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=quiet or not console.is_terminal,
        ) as bar:
            task = bar.add_task("mask", total=100)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=100 * done / max(total, 1))

            result = run_mask(source, out, card=card, settings=settings, progress=progress)
    except ProductError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_PRODUCT_ERROR) from exc
    except ModelCardError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_CARD_ERROR) from exc
    except InferenceError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_INFERENCE_ERROR) from exc
    table = Table(title=f"{result.product.id} ({result.model_id})")
    table.add_column("value", justify="right")
    table.add_column("class")
    table.add_column("pixels", justify="right")
    table.add_column("percent", justify="right")
    percentages = result.class_percentages
    for value, count in sorted(result.class_counts.items()):
        share = f"{percentages[value]:.2f}" if value in percentages else "-"
        table.add_row(str(value), LEGEND_BY_VALUE[value].name, str(count), share)
    Console().print(table)
    typer.echo(f"eo:cloud_cover {result.cloud_cover:.2f} %")
    typer.echo(f"semi-transparent cloud from: {result.extra.get('semi_transparent_rule')}")
    stages = ("open", "evidence", "read", "read_wait", "predict", "write", "total")
    timings = ", ".join(f"{k} {result.timings[k]:.1f} s" for k in stages if k in result.timings)
    typer.echo(f"timings: {timings} (read overlaps predict; read_wait is the part that does not)")
    typer.echo(
        f"wrote {result.path} and {result.thumbnail_path} in {result.timings['total']:.1f} s"
    )


def register(app: typer.Typer) -> None:
    """Add the inference commands to the ``kappacat`` command."""
    from inference.sample.cli import register as register_sample

    app.command("mask")(mask)
    register_sample(app)

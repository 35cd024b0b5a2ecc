"""The ``kappacat`` command: one entry point, each component registers its own subcommands."""

from __future__ import annotations

import typer

from catalog_api.cli import register as register_catalog
from inference.cli import register as register_inference
from inference.sample.cli import register as register_sample
from ingest.cli import register as register_ingest
from kappacat.dbcli import register as register_db
from kappacat.demo import demo_command
from tiler.cli import register as register_tiler

app = typer.Typer(
    name="kappacat",
    help="KappaCat: an open STAC catalogue of Sentinel-2 cloud and cloud-shadow masks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
serve_app = typer.Typer(help="Run a server (the STAC API or the tiler).", no_args_is_help=True)
app.add_typer(serve_app, name="serve")

register_db(app)
register_catalog(app, serve_app)
register_inference(app)
register_sample(app)
register_ingest(app)
register_tiler(app, serve_app)
app.command("demo")(demo_command)


def main() -> None:
    """Run the ``kappacat`` command."""
    app()

"""``kappacat migrate``, ``kappacat collections`` and ``kappacat publish``."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from catalog.settings import DatabaseSettings, StacSchemaSettings, redact


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def migrate_command(
    skip_collections: bool = typer.Option(
        False, "--skip-collections", help="Do not create or update the mask collections."
    ),
) -> None:
    """Bring the database to the current schema (pgstac, KappaCat tables, roles, collections)."""
    import psycopg

    from kappacat.migrate import MigrationError, migrate

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = DatabaseSettings()
    try:
        report = migrate(settings, collections=not skip_collections)
    except (MigrationError, psycopg.Error, OSError) as exc:
        raise _fail(f"{redact(settings.url)}: {exc}") from exc
    typer.echo(f"pgstac {report.pgstac_before or '(none)'} -> {report.pgstac_after}")
    for name in report.applied:
        typer.echo(f"applied {name}")
    for role in report.roles_created:
        typer.echo(f"created role {role}")
    if report.queryables_changed:
        typer.echo(f"registered queryables: {', '.join(report.queryables_changed)}")
    if report.partitioned:
        typer.echo(f"items partitioned by year: {', '.join(report.partitioned)}")
    if not skip_collections:
        typer.echo("collections up to date")
    if not report.changed:
        typer.echo("schema already up to date")


def collections_command() -> None:
    """Create or update the mask collections."""
    from catalog.collections import collection_dicts
    from ingest.publish import upsert_collections

    settings = DatabaseSettings()
    collections = collection_dicts()
    upsert_collections(settings.url, collections)
    for c in collections:
        typer.echo(f"upserted collection {c['id']}")


def publish_command(
    files: list[Path] = typer.Argument(
        ..., exists=False, help="STAC item, item collection or ndjson files."
    ),
) -> None:
    """Upsert STAC items into the catalogue; nothing is loaded unless every file is valid."""
    from catalog.stac_validation import StacValidator
    from ingest.publish import PublishError, publish_files

    settings = DatabaseSettings()
    validator = StacValidator.from_settings(StacSchemaSettings())
    try:
        report = publish_files(settings.url, files, validator)
    except PublishError as exc:
        raise _fail(f"{exc}; nothing was published") from exc
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"published {report.total} items from {len(files)} file(s)")


def register(app: typer.Typer) -> None:
    """Add the database commands to the ``kappacat`` command."""
    app.command("migrate")(migrate_command)
    app.command("collections")(collections_command)
    app.command("publish")(publish_command)

"""``kappacat serve api``."""

from __future__ import annotations

import typer


def serve_api(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8081, help="Port to listen on."),
    workers: int = typer.Option(
        2, min=1, help="Worker processes; a supervisor replaces any that dies."
    ),
) -> None:
    """Serve the STAC API (stac-fastapi-pgstac) over the catalogue database."""
    from catalog.metrics import MetricsListenError
    from catalog.web import serve_supervised
    from catalog_api.settings import ApiSettings

    settings = ApiSettings()
    try:
        serve_supervised(
            "catalog_api.app:create_app",
            host=host,
            port=port,
            workers=workers,
            metrics=settings,
            root_path=settings.root_path,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            log_level="info",
        )
    except MetricsListenError as exc:  # the port is taken: say so, not a traceback
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add the API commands to the ``kappacat`` command."""
    serve_app.command("api")(serve_api)

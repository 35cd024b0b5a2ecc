"""``kappacat serve tiler``."""

from __future__ import annotations

import typer


def serve_tiler(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8082, help="Port to listen on."),
    workers: int = typer.Option(
        2, min=1, help="Worker processes; a supervisor replaces any that dies."
    ),
) -> None:
    """Serve mask tiles, TileJSON, WMTS, point queries, AOI statistics and the web map."""
    from catalog.metrics import MetricsListenError
    from catalog.web import serve_supervised
    from tiler.settings import TilerSettings

    settings = TilerSettings()
    try:
        serve_supervised(
            "tiler.app:create_app",
            host=host,
            port=port,
            workers=workers,
            metrics=settings,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            log_level="info",
        )
    except MetricsListenError as exc:  # the port is taken: say so, not a traceback
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add the tiler commands to the ``kappacat`` command."""
    serve_app.command("tiler")(serve_tiler)

"""The STAC API app, assembled by :func:`create_app` for uvicorn (``--factory``) and tests alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote, urlsplit

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from stac_fastapi.pgstac.app import instantiate_api
from stac_fastapi.pgstac.config import PostgresSettings
from stac_fastapi.pgstac.config import Settings as StacFastapiSettings
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db
from stac_fastapi.pgstac.models.extensions import Extensions

from catalog_api.auth import require_api_key
from catalog_api.settings import ApiSettings
from kappacat import __version__
from kappacat.settings import DatabaseSettings

WRITE_SCOPES = [
    {"path": "/collections", "method": "POST"},
    {"path": "/collections/{collection_id}", "method": "PUT"},
    {"path": "/collections/{collection_id}", "method": "PATCH"},
    {"path": "/collections/{collection_id}", "method": "DELETE"},
    {"path": "/collections/{collection_id}/items", "method": "POST"},
    {"path": "/collections/{collection_id}/items/{item_id}", "method": "PUT"},
    {"path": "/collections/{collection_id}/items/{item_id}", "method": "PATCH"},
    {"path": "/collections/{collection_id}/items/{item_id}", "method": "DELETE"},
    {"path": "/collections/{collection_id}/bulk_items", "method": "POST"},
]


def postgres_settings(url: str, settings: ApiSettings) -> PostgresSettings:
    """stac-fastapi-pgstac's connection settings from a ``postgresql://`` URL."""
    parts = urlsplit(url)
    return PostgresSettings(
        pguser=unquote(parts.username or "postgres"),
        pgpassword=unquote(parts.password or ""),
        pghost=parts.hostname or "127.0.0.1",
        pgport=parts.port or 5432,
        pgdatabase=parts.path.lstrip("/") or "postgres",
        db_min_conn_size=settings.pool_min_size,
        db_max_conn_size=settings.pool_max_size,
    )


def stac_fastapi_settings(settings: ApiSettings) -> StacFastapiSettings:
    """The underlying stac-fastapi settings, all taken from ours."""
    return StacFastapiSettings(
        stac_fastapi_title=settings.title,
        stac_fastapi_description=settings.description,
        stac_fastapi_landing_id="kappacat",
        stac_fastapi_version=__version__,
        enable_transactions_extensions=settings.transactions_enabled,
        cors_origins=settings.cors_origins,
        cors_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        cors_headers=["Content-Type", "Authorization", "X-API-Key"],
        openapi_url="/api",
        docs_url="/api.html",
        root_path="",
    )


def create_app(
    settings: ApiSettings | None = None, database: DatabaseSettings | None = None
) -> FastAPI:
    """Build the STAC API app from settings (read from the environment when not given)."""
    settings = settings or ApiSettings()
    database = database or DatabaseSettings()
    fastapi_settings = stac_fastapi_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await connect_to_db(
            app,
            postgres_settings=postgres_settings(database.reader_url, settings),
            add_write_connection_pool=settings.transactions_enabled,
            write_postgres_settings=postgres_settings(database.url, settings),
        )
        yield
        await close_db_connection(app)

    api = instantiate_api(
        extensions=Extensions(settings=fastapi_settings),
        lifespan=lifespan,
        settings=fastapi_settings,
    )
    app = api.app
    if settings.transactions_enabled:
        api.add_route_dependencies(
            scopes=WRITE_SCOPES, dependencies=[Depends(require_api_key(settings.api_keys))]
        )
    if settings.assets_dir is not None:
        app.mount("/assets", StaticFiles(directory=settings.assets_dir), name="assets")
    app.state.kappacat_settings = settings
    return app

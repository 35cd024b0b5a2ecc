"""The STAC API app, assembled by :func:`create_app` for uvicorn (``--factory``) and tests alike.

It is stac-fastapi-pgstac's ``instantiate_api`` with KappaCat's parts swapped in: the search
request models (``search.py``), the read client (``client.py``), the query extension with every
operator (``query.py``), the transaction routes (``transactions.py``, only with API keys) and
one set of error handlers (``errors.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit

from asyncpg import Connection
from brotli_asgi import BrotliMiddleware
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from stac_fastapi.api.app import StacApi
from stac_fastapi.api.middleware import ProxyHeaderMiddleware
from stac_fastapi.api.models import (
    EmptyRequest,
    JSONResponse,
    create_get_request_model,
    create_post_request_model,
    create_request_model,
)
from stac_fastapi.extensions import (
    CollectionSearchExtension,
    CollectionSearchFilterExtension,
    FieldsExtension,
    ItemCollectionFilterExtension,
    OffsetPaginationExtension,
    SearchFilterExtension,
    TokenPaginationExtension,
)
from stac_fastapi.extensions.fields import FieldsConformanceClasses
from stac_fastapi.extensions.free_text import FreeTextConformanceClasses
from stac_fastapi.extensions.query import QueryConformanceClasses
from stac_fastapi.extensions.sort import (
    CollectionSearchSortExtension,
    ItemCollectionSortExtension,
    SearchSortExtension,
)
from stac_fastapi.pgstac.config import PostgresSettings, ServerSettings
from stac_fastapi.pgstac.config import Settings as StacFastapiSettings
from stac_fastapi.pgstac.core import health_check
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db, translate_pgstac_errors
from stac_fastapi.pgstac.db import get_connection as pgstac_connection
from stac_fastapi.pgstac.extensions import FreeTextExtension
from stac_fastapi.pgstac.extensions import QueryExtension as CollectionQueryExtension
from stac_fastapi.pgstac.extensions.filter import FiltersClient
from stac_fastapi.types.extension import ApiExtension
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.types import Scope

from catalog import __version__
from catalog.apidocs import add_docs_page
from catalog.metrics import instrument
from catalog.settings import DatabaseSettings, StorageSettings
from catalog.web import (
    SWAGGER_UI_POLICY,
    ReadWriteCorsMiddleware,
    SecurityHeadersMiddleware,
    SizeLimitMiddleware,
)
from catalog_api.auth import KeyCheck, require_api_key
from catalog_api.bulk import CatalogBulkTransactionExtension, CatalogBulkTransactionsClient
from catalog_api.client import CatalogClient
from catalog_api.errors import add_exception_handlers, error_response, translate_database_errors
from catalog_api.query import QueryExtension
from catalog_api.search import ItemsGetRequestBase, SearchGetRequestBase, SearchPostRequestBase
from catalog_api.settings import ApiSettings
from catalog_api.transactions import CatalogTransactionExtension, CatalogTransactionsClient

STAC_VERSION = "1.1.0"
VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
"""Swagger UI for the docs page, copied from npm by ``scripts/build-web.sh``."""

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
        server_settings=ServerSettings(
            application_name="kappacat-api",
            statement_timeout=str(settings.statement_timeout_ms),
        ),
    )


def stac_fastapi_settings(settings: ApiSettings) -> StacFastapiSettings:
    """The underlying stac-fastapi settings, all taken from ours."""
    return StacFastapiSettings(
        stac_fastapi_title=settings.title,
        stac_fastapi_description=settings.description,
        stac_fastapi_landing_id="kappacat",
        stac_fastapi_version=__version__,
        enable_transactions_extensions=settings.transactions_enabled,
        use_api_hydrate=settings.hydrate_in_api,
        cors_origins=settings.cors_origins,
        openapi_url="/api",
        docs_url="/api.html",
        root_path="",  # uvicorn's root_path (``kappacat serve api``) sets it per request
    )


@asynccontextmanager
async def get_connection(
    request: Request, readwrite: Literal["r", "w"] = "r"
) -> AsyncIterator[Connection]:
    """A pooled connection; whatever the database raises comes out as an API error.

    Inside a write route's transaction (``transactions.write_transaction``) every write uses
    that transaction's connection, so the request's writes commit together with its answer.
    """
    current = getattr(request.state, "kappacat_write", None) if readwrite == "w" else None
    with translate_database_errors():
        if current is not None:
            with translate_pgstac_errors():
                yield current
            return
        async with pgstac_connection(request, readwrite) as conn:
            yield conn


def search_extensions() -> list[ApiExtension]:
    """Extensions of ``/search``."""
    return [
        QueryExtension(),
        SearchSortExtension(),
        FieldsExtension(),
        SearchFilterExtension(client=FiltersClient()),
        TokenPaginationExtension(),
    ]


def items_extensions() -> list[ApiExtension]:
    """Extensions of ``/collections/{collection_id}/items``."""
    return [
        QueryExtension(conformance_classes=[QueryConformanceClasses.ITEMS]),
        ItemCollectionSortExtension(),
        FieldsExtension(conformance_classes=[FieldsConformanceClasses.ITEMS]),
        ItemCollectionFilterExtension(client=FiltersClient()),
        TokenPaginationExtension(),
    ]


def collection_search_extension() -> CollectionSearchExtension:
    """Collection search (``/collections`` with bbox, datetime, q, filter, sort, fields)."""
    return CollectionSearchExtension.from_extensions(
        [
            CollectionQueryExtension(conformance_classes=[QueryConformanceClasses.COLLECTIONS]),
            CollectionSearchSortExtension(),
            FieldsExtension(conformance_classes=[FieldsConformanceClasses.COLLECTIONS]),
            CollectionSearchFilterExtension(client=FiltersClient()),
            FreeTextExtension(conformance_classes=[FreeTextConformanceClasses.COLLECTIONS]),
            OffsetPaginationExtension(),
        ]
    )


def transaction_extensions(fastapi_settings: StacFastapiSettings) -> list[ApiExtension]:
    """The write routes (only mounted when API keys are configured)."""
    return [
        CatalogTransactionExtension(
            client=CatalogTransactionsClient(),
            settings=fastapi_settings,
            response_class=JSONResponse,
        ),
        CatalogBulkTransactionExtension(client=CatalogBulkTransactionsClient()),
    ]


def _cap_limit(schema: dict[str, Any], max_limit: int) -> None:
    if schema.get("type") == "integer":
        schema["maximum"] = max_limit
    for branch in schema.get("anyOf", []):
        _cap_limit(branch, max_limit)


def advertise_max_limit(app: FastAPI, max_limit: int) -> None:
    """Put ``max_limit`` into the OpenAPI document as the maximum of every ``limit``."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("name") == "limit":
                        _cap_limit(parameter.get("schema", {}), max_limit)
        for model in schema.get("components", {}).get("schemas", {}).values():
            if "limit" in model.get("properties", {}):
                _cap_limit(model["properties"]["limit"], max_limit)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def middlewares(settings: ApiSettings, fastapi_settings: StacFastapiSettings) -> list[Middleware]:
    """The middleware stack, innermost first: compression, proxy headers, request limits,
    security headers, CORS."""
    check = KeyCheck(settings.api_keys)

    def body_limit(scope: Scope) -> tuple[int, str]:
        if settings.transactions_enabled and check(Headers(scope=scope)):
            return settings.max_write_body_bytes, "max_write_body_bytes"
        return settings.max_body_bytes, "max_body_bytes"

    return [
        Middleware(BrotliMiddleware),
        Middleware(ProxyHeaderMiddleware),
        Middleware(
            SizeLimitMiddleware, limits=settings, respond=error_response, body_limit=body_limit
        ),
        Middleware(
            SecurityHeadersMiddleware, policies={str(fastapi_settings.docs_url): SWAGGER_UI_POLICY}
        ),
        Middleware(
            ReadWriteCorsMiddleware,
            read_origins=settings.cors_origins,
            write_origins=settings.cors_write_origins,
            read_headers=["Prefer", "If-None-Match"],
            expose_headers=["Location", "ETag"],
        ),
    ]


def create_app(
    settings: ApiSettings | None = None,
    database: DatabaseSettings | None = None,
    storage: StorageSettings | None = None,
) -> FastAPI:
    """Build the STAC API app from settings (read from the environment when not given).

    ``/assets`` serves ``settings.assets_dir``, or when that is not set, the pipeline's
    storage directory (``storage``) when storage is local.
    """
    settings = settings or ApiSettings()
    database = database or DatabaseSettings()
    fastapi_settings = stac_fastapi_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await connect_to_db(
            app,
            get_conn=cast(Any, get_connection),
            postgres_settings=postgres_settings(database.reader_url, settings),
            add_write_connection_pool=settings.transactions_enabled,
            write_postgres_settings=postgres_settings(database.url, settings),
        )
        yield
        await close_db_connection(app)

    search = search_extensions()
    items = items_extensions()
    collection_search = collection_search_extension()
    writes = transaction_extensions(fastapi_settings) if settings.transactions_enabled else []
    post_model = create_post_request_model(search, base_model=SearchPostRequestBase)
    client = CatalogClient(
        max_limit=settings.max_limit,
        refuse_limit_above_max=settings.refuse_limit_above_max,
        filter_limits=settings.filter_limits,
        tiler_url=settings.tiler_url,
    )
    client.pgstac_search_model = cast(Any, post_model)
    client.landing_page_id = "kappacat"
    api = StacApi(
        app=FastAPI(
            openapi_url=fastapi_settings.openapi_url,
            docs_url=None,  # add_docs_page below: Swagger UI from the package
            redoc_url=None,
            title=settings.title,
            version=__version__,
            description=settings.description,
            lifespan=lifespan,
        ),
        router=APIRouter(),
        settings=fastapi_settings,
        extensions=[*search, *items, *writes, collection_search],
        exceptions={},  # errors.add_exception_handlers below answers them all
        client=client,
        stac_version=STAC_VERSION,
        response_class=JSONResponse,
        items_get_request_model=cast(
            Any,
            create_request_model(
                "ItemCollectionUri", base_model=ItemsGetRequestBase, extensions=items
            ),
        ),
        search_get_request_model=create_get_request_model(search, SearchGetRequestBase),
        search_post_request_model=post_model,
        collections_get_request_model=collection_search.GET or EmptyRequest,
        middlewares=middlewares(settings, fastapi_settings),
        health_check=cast(Any, health_check),
    )
    app = api.app
    add_exception_handlers(app)
    instrument(app)  # outermost: refusals by the limits are counted too
    advertise_max_limit(app, settings.max_limit)
    if settings.transactions_enabled:
        api.add_route_dependencies(
            scopes=cast(Any, WRITE_SCOPES),
            dependencies=[Depends(require_api_key(settings.api_keys))],
        )
    assets = settings.assets_dir or (storage or StorageSettings()).local_directory()
    if assets is not None:
        assets.mkdir(parents=True, exist_ok=True)  # the workers may not have written yet
        app.mount("/assets", StaticFiles(directory=assets), name="assets")
    if VENDOR_DIR.is_dir():  # made by scripts/build-web.sh; the docs page says so if not
        app.mount("/static/vendor", StaticFiles(directory=VENDOR_DIR), name="vendor")
    add_docs_page(app, VENDOR_DIR, "/static/vendor", fastapi_settings.docs_url or "/api.html")
    app.state.kappacat_settings = settings
    return app

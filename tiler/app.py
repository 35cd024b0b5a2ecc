"""The tile app, assembled by :func:`create_app` for uvicorn (``--factory``) and tests alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Body, Depends, FastAPI
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from titiler.core.factory import TMSFactory
from titiler.pgstac.model import RegisterMosaic

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
from tiler import queries, searches, viewer
from tiler.catalog import Catalog, open_pool
from tiler.dependencies import (
    AppState,
    app_state,
    check_limits,
    collection_search_id,
    mosaic_metadata,
    search_id_param,
)
from tiler.errors import SKIPPED_HEADER, BadRequest, add_exception_handlers, error_response
from tiler.factories import item_factory, mosaic_factory, tile_matrix_sets
from tiler.searchparams import count_vertices, parse_datetime, parse_filter, parse_sortby
from tiler.settings import TilerSettings
from tiler.storage import StorageRoots
from tiler.tilejson import TileJSONTileSizeMiddleware


class CacheHeadersMiddleware:
    """Adds the cache headers a route dependency left on ``request.state`` to 200 answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; decorate the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # what ``request.state`` writes into

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                extra = state.get("cache_headers")
                if extra:
                    MutableHeaders(scope=message).update(extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RootPathMiddleware:
    """Serve the app under a path prefix, whether or not a proxy stripped it from the path.

    As uvicorn's ``--root-path`` does, the prefix becomes the ASGI ``root_path`` and the
    start of ``path``, so routes, mounted static files and generated links all agree.
    """

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app = app
        self.root_path = root_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Put the prefix into the scope."""
        if scope["type"] in ("http", "websocket") and self.root_path:
            path = scope["path"]
            if not (path == self.root_path or path.startswith(self.root_path + "/")):
                scope = {**scope, "path": self.root_path + path}
                if "raw_path" in scope:
                    scope["raw_path"] = self.root_path.encode() + scope["raw_path"]
            scope["root_path"] = self.root_path
        await self.app(scope, receive, send)


def _register_search_route(router: APIRouter) -> None:
    @router.post("/searches/register", tags=["Registered searches"])
    def register_search(
        request: Request,
        body: RegisterMosaic = Body(description="A STAC search (CQL2 JSON filter) to mosaic"),
    ) -> dict[str, Any]:
        """Register a search as a mosaic; its tiles are under ``/searches/{id}``."""
        state = app_state(request)
        search = body.model_dump(exclude_none=True, by_alias=True, exclude={"metadata"})
        if not search.get("collections"):
            raise BadRequest("a registered search names its collections")
        collections = [state.catalog.collection(c) for c in search["collections"]]
        limits = state.settings
        if when := parse_datetime(search.get("datetime"), limits.max_date_range_days, False):
            search["datetime"] = when
        if "intersects" in search and count_vertices(search["intersects"]) > (
            limits.max_polygon_vertices
        ):
            raise BadRequest(f"intersects has more than {limits.max_polygon_vertices} vertices")
        if search.get("filter") is not None:
            search["filter"] = parse_filter(search["filter"], "cql2-json", limits.filter_limits)
        text_sort = ",".join(
            ("-" if s["direction"] == "desc" else "") + s["field"]
            for s in search.get("sortby") or []
        )
        search["sortby"] = parse_sortby(text_sort or None)
        metadata = mosaic_metadata(collections[0], search.get("bbox"))
        metadata.update(body.metadata.model_dump(exclude_none=True, exclude={"type"}))
        search_id = state.catalog.register_search(search, metadata)
        base = str(request.base_url).rstrip("/") + f"/searches/{search_id}"
        return {
            "id": search_id,
            "links": [
                {"rel": "metadata", "href": f"{base}/info", "type": "application/json"},
                {
                    "rel": "tilejson",
                    "href": f"{base}/{{tileMatrixSetId}}/tilejson.json",
                    "type": "application/json",
                    "templated": True,
                },
                {"rel": "wmts", "href": f"{base}/WMTSCapabilities.xml", "type": "application/xml"},
            ],
        }


def _service_routes(router: APIRouter) -> None:
    @router.get("/healthz", tags=["Health"])
    def healthz(request: Request) -> dict[str, Any]:
        """Whether the tiler and its database answer."""
        return {
            "status": "ok",
            "database_online": app_state(request).catalog.ping(),
            "version": __version__,
        }

    @router.get("/", tags=["Landing"])
    def landing(request: Request) -> dict[str, Any]:
        """What this service offers, with links."""
        base = str(request.base_url).rstrip("/")
        links = [
            ("service-desc", "/api", "application/vnd.oai.openapi+json;version=3.0"),
            ("service-doc", "/api.html", "text/html"),
            ("map", "/viewer", "text/html"),
            ("legend", "/legend", "application/json"),
            ("searches", "/searches/", "application/json"),
            ("tiling-schemes", "/tileMatrixSets", "application/json"),
        ]
        return {
            "title": app_state(request).settings.title,
            "version": __version__,
            "links": [{"rel": r, "href": base + p, "type": t} for r, p, t in links],
        }


def create_app(
    settings: TilerSettings | None = None,
    database: DatabaseSettings | None = None,
    storage: StorageSettings | None = None,
) -> FastAPI:
    """Build the tile app from settings (read from the environment when not given).

    Masks are read from ``settings.storage_roots``, or when those are not set, from where the
    pipeline writes them (``storage``).
    """
    settings = settings or TilerSettings()
    database = database or DatabaseSettings()
    supported = tile_matrix_sets(settings.tile_matrix_sets)
    if settings.storage_roots is None:
        roots = StorageRoots.of_storage(storage or StorageSettings())
    else:
        roots = StorageRoots.from_settings(settings.storage_roots)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = open_pool(
            database.reader_url,
            settings.pool_min_size,
            settings.pool_max_size,
            settings.statement_timeout_ms,
        )
        app.state.kappacat = AppState(
            settings,
            Catalog(pool, settings.lookup_cache_ttl, settings.max_registered_searches),
            roots,
            supported,
        )
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title=settings.title,
        description="Cloud and cloud-shadow mask tiles of the KappaCat catalogue, in the "
        "legend colours, with TileJSON, WMTS, point queries and AOI statistics.",
        version=__version__,
        openapi_url="/api",
        docs_url=None,  # add_docs_page below: Swagger UI from the package
        lifespan=lifespan,
    )
    add_exception_handlers(app)
    limits = [Depends(check_limits)]

    item_prefix = "/collections/{collection_id}/items/{item_id}"
    collection_prefix, search_prefix = "/collections/{collection_id}", "/searches/{search_id}"
    for factory, prefix, tag in (
        (item_factory(supported), item_prefix, "Item tiles"),
        (
            mosaic_factory(supported, collection_search_id, collection_prefix),
            collection_prefix,
            "Collection mosaics",
        ),
        (
            mosaic_factory(supported, search_id_param, search_prefix),
            search_prefix,
            "Registered searches",
        ),
    ):
        app.include_router(factory.router, prefix=prefix, tags=[tag], dependencies=limits)

    router = APIRouter()
    _register_search_route(router)
    searches.register(router)
    queries.register(router)
    viewer.register(router)
    _service_routes(router)
    app.include_router(router)
    app.include_router(TMSFactory(supported_tms=supported).router, tags=["Tiling schemes"])
    app.mount("/static", StaticFiles(directory=viewer.STATIC_DIR), name="static")
    add_docs_page(app, viewer.VENDOR_DIR, "/static/vendor", "/api.html")

    add_middleware(app, settings)
    return app


def add_middleware(app: FastAPI, settings: TilerSettings) -> None:
    """The middleware stack, innermost first: TileJSON tile sizes, cache headers, request
    limits, security headers, the root path, request metrics, CORS (any listed origin may
    read; the tiler has no writes)."""
    policies = {"/viewer": viewer.content_security_policy(settings), "/api.html": SWAGGER_UI_POLICY}
    app.add_middleware(TileJSONTileSizeMiddleware)
    app.add_middleware(CacheHeadersMiddleware)
    app.add_middleware(SizeLimitMiddleware, limits=settings, respond=error_response)
    app.add_middleware(SecurityHeadersMiddleware, policies=policies)
    app.add_middleware(RootPathMiddleware, root_path=settings.root_path)
    instrument(app)  # inside the root path: requests are counted by their route
    app.add_middleware(
        ReadWriteCorsMiddleware,
        read_origins=settings.cors_origins,
        read_headers=["If-None-Match"],
        expose_headers=["ETag", SKIPPED_HEADER],
    )

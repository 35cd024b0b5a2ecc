"""The STAC API Aggregation Extension: ``/aggregate``, ``/aggregations`` and their links.

stac-fastapi's extension (``stac_fastapi.extensions.aggregation``) with KappaCat's client:
an aggregation request is turned into exactly the search request ``/search`` would make of
the same parameters (the same models, checks and ``query``-into-``filter`` merge of
:class:`~catalog_api.client.CatalogClient`), and pgstac's own WHERE clause of that search is
aggregated in SQL (``aggregate_sql.py``) over the read-only pool. The names offered are
:data:`catalog.aggregations.AGGREGATIONS`.
"""

# No ``from __future__ import annotations``: FastAPI reads the annotations of the request
# classes and endpoints below at runtime.

from typing import Annotated, Any, cast

import attr
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import Field, ValidationError, field_validator
from stac_fastapi.api.models import CollectionUri, EmptyRequest, JSONResponse, create_request_model
from stac_fastapi.api.routes import create_async_endpoint
from stac_fastapi.extensions import SearchFilterExtension
from stac_fastapi.extensions.aggregation import (
    AggregationConformanceClasses,
    AggregationExtension,
)
from stac_fastapi.extensions.aggregation.client import AsyncBaseAggregationClient
from stac_fastapi.extensions.aggregation.request import AggregationExtensionGetRequest
from stac_fastapi.pgstac.extensions.filter import FiltersClient
from stac_fastapi.pgstac.types.search import PgstacSearch
from stac_fastapi.types.requests import get_base_url
from stac_fastapi.types.stac import Collection, Collections, LandingPage

from catalog.aggregations import (
    AGGREGATIONS,
    DATETIME_INTERVALS,
    DEFAULT_DATETIME_INTERVAL,
    AggregationSpec,
)
from catalog_api.aggregate_sql import aggregate
from catalog_api.client import CatalogClient, _and, parse_filter
from catalog_api.errors import InvalidParameter, describe_validation_errors
from catalog_api.query import QueryExtension, query_to_cql2
from catalog_api.search import SearchPostRequestBase

INTERVAL_DESCRIPTION = (
    "The calendar interval (UTC) of datetime_frequency's buckets: "
    + ", ".join(DATETIME_INTERVALS)
    + f" (default {DEFAULT_DATETIME_INTERVAL})."
)
AGGREGATIONS_DESCRIPTION = (
    "The aggregations to compute, comma-separated (GET) or a list (POST); /aggregations lists them."
)
CONFORMANCE_CLASSES = [
    AggregationConformanceClasses.AGGREGATION,
    f"{AggregationConformanceClasses.AGGREGATION}#filter",
    f"{AggregationConformanceClasses.AGGREGATION}#query",
]


@attr.s
class AggregateGetRequestBase(AggregationExtensionGetRequest):
    """Base of the GET /aggregate parameters: the search's, ``aggregations`` and the interval."""

    datetime_frequency_interval: Annotated[str | None, Query(description=INTERVAL_DESCRIPTION)] = (
        attr.ib(default=None)
    )


class AggregatePostRequestBase(SearchPostRequestBase):
    """Base of the POST /aggregate body: the search's, ``aggregations`` and the interval."""

    aggregations: list[str] | None = Field(None, description=AGGREGATIONS_DESCRIPTION)
    datetime_frequency_interval: str | None = Field(None, description=INTERVAL_DESCRIPTION)

    @field_validator("aggregations", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return value.split(",") if isinstance(value, str) else value


AGGREGATE_ONLY = {"aggregations", "datetime_frequency_interval"}
"""Fields of the aggregate requests that are not search parameters."""


def request_extensions() -> list[Any]:
    """The search extensions whose parameters ``/aggregate`` takes: query and filter."""
    return [QueryExtension(), SearchFilterExtension(client=FiltersClient())]


def get_request_model() -> type[AggregateGetRequestBase]:
    """The GET /aggregate parameters model."""
    model = create_request_model(
        "AggregateGetRequest", base_model=AggregateGetRequestBase, extensions=request_extensions()
    )
    return cast(type[AggregateGetRequestBase], model)


def post_request_model() -> type[AggregatePostRequestBase]:
    """The POST /aggregate body model."""
    model = create_request_model(
        "AggregatePostRequest",
        base_model=AggregatePostRequestBase,
        extensions=request_extensions(),
        request_type="POST",
    )
    return cast(type[AggregatePostRequestBase], model)


def aggregation_links(base: str) -> list[dict[str, Any]]:
    """The ``aggregate`` (GET and POST) and ``aggregations`` links of a landing page or a
    collection whose URL is ``base`` (ending in ``/``)."""
    return [
        {
            "rel": "aggregate",
            "type": "application/json",
            "title": "Aggregate the items",
            "href": f"{base}aggregate",
            "method": method,
        }
        for method in ("GET", "POST")
    ] + [
        {
            "rel": "aggregations",
            "type": "application/json",
            "title": "Aggregations available",
            "href": f"{base}aggregations",
        }
    ]


def requested(names: list[str] | None) -> list[AggregationSpec]:
    """The aggregations asked for, each once, or a 400 naming the ones that do not exist."""
    wanted = list(dict.fromkeys(n.strip() for n in names or [] if n.strip()))
    if not wanted:
        raise InvalidParameter(
            "aggregations: name one or more aggregations (see /aggregations): "
            + ", ".join(AGGREGATIONS)
        )
    unknown = [n for n in wanted if n not in AGGREGATIONS]
    if unknown:
        named = ", ".join(repr(n[:64]) for n in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise InvalidParameter(
            f"aggregations: unknown aggregation(s) {named}{more}; "
            "available: " + ", ".join(AGGREGATIONS)
        )
    return [AGGREGATIONS[n] for n in wanted]


def interval_of(value: str | None) -> str:
    """``datetime_frequency_interval``, or a 400 that lists the intervals."""
    if value is None:
        return DEFAULT_DATETIME_INTERVAL
    if value not in DATETIME_INTERVALS:
        raise InvalidParameter(
            f"datetime_frequency_interval: {value!r} is not an interval; use one of "
            + ", ".join(DATETIME_INTERVALS)
        )
    return value


@attr.s
class AggregatingClient(CatalogClient, AsyncBaseAggregationClient):
    """:class:`CatalogClient` that also answers the aggregation routes and links to them."""

    # ---- links -----------------------------------------------------------------------------

    async def landing_page(self, **kwargs: Any) -> LandingPage:
        """The landing page, with the ``aggregate`` and ``aggregations`` links."""
        landing = await super().landing_page(**kwargs)
        landing["links"].extend(aggregation_links(get_base_url(kwargs["request"])))
        return landing

    async def get_collection(
        self, collection_id: str, request: Request, **kwargs: Any
    ) -> Collection:
        """A collection, with its ``aggregate`` and ``aggregations`` links."""
        collection = await super().get_collection(collection_id, request, **kwargs)
        self._link_collection(collection, request)
        return collection

    async def all_collections(self, request: Request, *args: Any, **kwargs: Any) -> Collections:
        """The collections, each with its ``aggregate`` and ``aggregations`` links."""
        collections = await super().all_collections(request, *args, **kwargs)
        if isinstance(collections, dict):  # with ``fields``, a response already rendered
            for collection in collections["collections"]:
                self._link_collection(collection, request)
        return collections

    def _link_collection(self, collection: Collection, request: Request) -> None:
        if "id" not in collection or "links" not in collection:  # left out by ``fields``
            return
        base = f"{get_base_url(request)}collections/{collection['id']}/"
        collection["links"].extend(aggregation_links(base))

    # ---- the aggregation routes ------------------------------------------------------------

    async def get_aggregations(  # type: ignore[override]
        self, collection_id: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """``/aggregations``: every aggregation this catalogue answers, with its data types."""
        request = cast(Request, kwargs["request"])
        base = get_base_url(request)
        if collection_id is not None:
            await self._check_collections(request, [collection_id])  # 404 when unknown
            here = f"{base}collections/{collection_id}/"
        else:
            here = base
        aggregations = []
        for spec in AGGREGATIONS.values():
            entry = {"name": spec.name, "data_type": spec.data_type, "title": spec.description}
            if spec.bucket_data_type:
                entry["frequency_distribution_data_type"] = spec.bucket_data_type
            aggregations.append(entry)
        return {
            "type": "AggregationCollection",
            "aggregations": aggregations,
            "links": self._links(base, f"{here}aggregations", collection_id),
        }

    async def aggregate(  # type: ignore[override]
        self,
        collection_id: str | None = None,
        aggregations: list[str] | None = None,
        collections: list[str] | None = None,
        ids: list[str] | None = None,
        bbox: Any = None,
        intersects: str | None = None,
        datetime: str | None = None,
        limit: int | None = None,
        query: str | None = None,
        filter_expr: str | None = None,
        filter_lang: str | None = None,
        datetime_frequency_interval: str | None = None,
        **kwargs: Any,
    ) -> JSONResponse:
        """``GET /aggregate`` and ``GET /collections/{collection_id}/aggregate``."""
        request = cast(Request, kwargs["request"])
        specs, interval = requested(aggregations), interval_of(datetime_frequency_interval)
        args = {"collections": collections, "ids": ids, "bbox": bbox, "limit": None}
        search = self._get_request(
            args, intersects, datetime, query, None, filter_expr, filter_lang, None
        )
        return await self._aggregate(request, search, specs, interval, collection_id)

    async def post_aggregate(
        self,
        body: AggregatePostRequestBase,
        request: Request,
        collection_id: str | None = None,
    ) -> JSONResponse:
        """``POST /aggregate`` and ``POST /collections/{collection_id}/aggregate``."""
        specs = requested(body.aggregations)
        interval = interval_of(body.datetime_frequency_interval)
        if body.filter_expr is not None:
            parse_filter(body.filter_expr, "cql2-json", self.filter_limits)
        fields = body.model_dump(exclude_unset=True, by_alias=True, exclude=AGGREGATE_ONLY)
        try:
            search = self.pgstac_search_model.model_validate(fields)
        except ValidationError as exc:
            raise InvalidParameter(describe_validation_errors(exc.errors())) from exc
        return await self._aggregate(request, search, specs, interval, collection_id)

    async def _aggregate(
        self,
        request: Request,
        search: PgstacSearch,
        specs: list[AggregationSpec],
        interval: str,
        collection_id: str | None,
    ) -> JSONResponse:
        """Aggregate what ``search`` matches, with the checks ``/search`` makes."""
        if collection_id is not None:
            await self._check_collections(request, [collection_id])  # 404 when unknown
            if search.collections and search.collections != [collection_id]:
                raise InvalidParameter(
                    f"collections: /collections/{collection_id}/aggregate aggregates that "
                    "collection only; use /aggregate to name collections"
                )
            search = search.model_copy(update={"collections": [collection_id]})
        elif search.collections:
            await self._check_collections(request, search.collections)
        query = getattr(search, "query", None)
        cql2 = _and(search.filter_expr, query_to_cql2(query) if query else None)
        update: dict[str, Any] = {"query": None, "fields": None, "filter_expr": cql2}
        if cql2 is not None:
            update["filter_lang"] = "cql2-json"
        pgstac = search.model_copy(update=update).model_dump(
            mode="json", exclude_none=True, by_alias=True
        )
        async with request.app.state.get_connection(request, "r") as conn:
            answers = await aggregate(conn, pgstac, specs, interval)
        base = get_base_url(request)
        return JSONResponse(
            {
                "type": "AggregationCollection",
                "aggregations": answers,
                "links": self._links(base, str(request.url), collection_id),
            }
        )

    def _links(self, base: str, self_href: str, collection_id: str | None) -> list[dict[str, Any]]:
        links = [
            {"rel": "root", "type": "application/json", "href": base},
            {"rel": "self", "type": "application/json", "href": self_href},
        ]
        if collection_id is not None:
            links.append(
                {
                    "rel": "collection",
                    "type": "application/json",
                    "href": f"{base}collections/{collection_id}",
                }
            )
        return links


@attr.s
class CatalogAggregationExtension(AggregationExtension):
    """The extension's routes, with the collection routes reading their path parameter
    (stac-fastapi's own registration passes it to neither POST nor GET request models)."""

    client: AggregatingClient = attr.ib(kw_only=True)
    conformance_classes: list[str] = attr.ib(factory=lambda: list(CONFORMANCE_CLASSES))
    router: APIRouter = attr.ib(factory=APIRouter)

    def register(self, app: FastAPI) -> None:
        """Add the aggregation routes to ``app``."""
        client, get_model, post_model = self.client, self.GET, self.POST
        router = self.router
        router.prefix = app.state.router_prefix
        for method in ("GET", "POST"):  # one route each: each its own OpenAPI operation id
            router.add_api_route(
                name="Aggregations",
                path="/aggregations",
                methods=[method],
                endpoint=create_async_endpoint(client.get_aggregations, EmptyRequest),
            )
            router.add_api_route(
                name="Collection Aggregations",
                path="/collections/{collection_id}/aggregations",
                methods=[method],
                endpoint=create_async_endpoint(client.get_aggregations, CollectionUri),
            )

        async def get_aggregate(
            request: Request, params: Annotated[Any, Depends(get_model)]
        ) -> JSONResponse:
            return await client.aggregate(request=request, **params.kwargs())

        async def post_aggregate(request: Request, body: post_model) -> JSONResponse:  # type: ignore[valid-type]
            return await client.post_aggregate(body, request)

        async def get_collection_aggregate(
            request: Request,
            collection_id: Annotated[str, Path(description="Collection ID")],
            params: Annotated[Any, Depends(get_model)],
        ) -> JSONResponse:
            return await client.aggregate(
                collection_id=collection_id, request=request, **params.kwargs()
            )

        async def post_collection_aggregate(
            request: Request,
            collection_id: Annotated[str, Path(description="Collection ID")],
            body: post_model,  # type: ignore[valid-type]
        ) -> JSONResponse:
            return await client.post_aggregate(body, request, collection_id)

        for path, get, post in (
            ("/aggregate", get_aggregate, post_aggregate),
            (
                "/collections/{collection_id}/aggregate",
                get_collection_aggregate,
                post_collection_aggregate,
            ),
        ):
            name = "Aggregate" if path == "/aggregate" else "Collection Aggregate"
            router.add_api_route(name=name, path=path, methods=["GET"], endpoint=get)
            router.add_api_route(name=name, path=path, methods=["POST"], endpoint=post)
        app.include_router(router, tags=["Aggregation Extension"])


def aggregation_extension(client: AggregatingClient) -> CatalogAggregationExtension:
    """The aggregation routes over ``client``."""
    extension = CatalogAggregationExtension(client=client)
    extension.GET = cast(Any, get_request_model())
    extension.POST = post_request_model()
    return extension

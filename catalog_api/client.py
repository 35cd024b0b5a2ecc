"""The read side of the API: stac-fastapi-pgstac's client with KappaCat's request checks.

What it changes, and why:

- every search (GET and POST ``/search``, ``/collections/{id}/items``) goes through one path
  that refuses what it cannot answer well with a 4xx: a ``limit`` above the maximum, unknown
  collections, a CQL2 filter that does not parse, a ``sortby`` on a field that is not sortable;
- ``query`` is answered as a CQL2 filter, which gives it every operator of the extension;
- a POST ``filter`` may be CQL2 text, as on GET;
- ``fields`` is applied here (see ``fields.py``) and the response is always GeoJSON;
- the landing page has KappaCat's id, STAC 1.1 and a ``child`` link per collection.
"""

from __future__ import annotations

import time
from typing import Any, cast
from urllib.parse import quote_plus

import attr
import orjson
from fastapi import Request
from pydantic import ValidationError
from stac_fastapi.api.models import GeoJSONResponse
from stac_fastapi.pgstac.core import CoreCrudClient
from stac_fastapi.pgstac.models.links import ItemCollectionLinks, SearchLinks
from stac_fastapi.pgstac.types.search import PgstacSearch
from stac_fastapi.types.requests import get_base_url
from stac_fastapi.types.stac import Collections, LandingPage

from catalog.cql2 import DEFAULT_LIMITS, FilterLimits, cql2_json
from catalog.cql2 import FilterTooComplex as FilterOverLimits
from catalog.queryables import array_properties
from catalog.web_map_links import add_collection_links, add_item_links
from catalog_api.errors import (
    FilterTooComplex,
    InvalidFilter,
    InvalidParameter,
    InvalidSort,
    LimitTooLarge,
    NotFound,
    describe_validation_errors,
)
from catalog_api.fields import FieldsSpec
from catalog_api.query import parse_query, query_to_cql2

# Sortable whatever the queryables say: the items table's own columns.
CORE_SORTABLE = frozenset({"id", "collection", "datetime", "start_datetime", "end_datetime"})
# Properties whose values are arrays: the query extension's ``in`` matches any element.
ARRAYS = array_properties()


def parse_filter(
    filter_: str | dict[str, Any], lang: str | None, limits: FilterLimits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """A ``filter`` (CQL2 text, or CQL2 JSON as text or object) as validated CQL2 JSON."""
    lang = "cql2-json" if isinstance(filter_, dict) else lang or "cql2-text"
    try:
        return cql2_json(filter_, lang, limits)
    except FilterOverLimits as exc:
        raise FilterTooComplex(str(exc)) from exc
    except Exception as exc:  # cql2 raises bare Exceptions for parse and validation errors
        raise InvalidFilter(f"filter is not valid {lang}: {exc}") from exc


def _and(*conditions: dict[str, Any] | None) -> dict[str, Any] | None:
    present = [c for c in conditions if c]
    if len(present) < 2:
        return present[0] if present else None
    return {"op": "and", "args": present}


@attr.s
class CatalogClient(CoreCrudClient):
    """Core and search endpoints over pgstac, with KappaCat's checks and extensions."""

    max_limit: int = attr.ib(default=1000, kw_only=True)
    refuse_limit_above_max: bool = attr.ib(default=False, kw_only=True)
    queryables_ttl: float = attr.ib(default=60.0, kw_only=True)
    filter_limits: FilterLimits = attr.ib(default=DEFAULT_LIMITS, kw_only=True)
    tiler_url: str = attr.ib(default="", kw_only=True)
    """Public URL of the tiler, for the web-map links of what is served ("" for none)."""
    _sortable_cache: dict[tuple[str, ...], tuple[float, frozenset[str]]] = attr.ib(
        factory=dict, init=False
    )

    # ---- landing page and collections ------------------------------------------------------

    async def landing_page(self, **kwargs: Any) -> LandingPage:
        """The landing page, with a ``child`` link to each collection."""
        landing = await super().landing_page(**kwargs)
        request = cast(Request, kwargs["request"])
        base_url = get_base_url(request)
        async with request.app.state.get_connection(request, "r") as conn:
            rows = await conn.fetch(
                "SELECT id, content->>'title' AS title FROM collections ORDER BY id"
            )
        for row in rows:
            link = {
                "rel": "child",
                "type": "application/json",
                "href": f"{base_url}collections/{row['id']}",
            }
            if row["title"]:
                link["title"] = row["title"]
            landing["links"].append(link)
        return landing

    async def all_collections(
        self,
        request: Request,
        limit: int | None = None,
        query: str | None = None,
        **kwargs: Any,
    ) -> Collections:
        """Collection search, refusing a ``limit`` above the maximum and a malformed ``query``."""
        # stac-fastapi reads ``query`` with ``unquote_plus``, hence quoted; an empty one is no
        # query (stac-fastapi fails on it)
        query = quote_plus(orjson.dumps(parse_query(query)).decode()) if query else None
        if kwargs.get("fields"):
            kwargs["fields"] = _collection_fields(kwargs["fields"])
        found = await super().all_collections(
            request, limit=self._limit(limit), query=query, **kwargs
        )
        if isinstance(found, dict):  # not with ``fields`` (then an already built response)
            for collection in found.get("collections", []):
                add_collection_links(cast(dict[str, Any], collection), self.tiler_url)
        return found

    async def get_collection(self, collection_id: str, request: Request, **kwargs: Any) -> Any:
        """One collection, with the web-map links of its mosaic."""
        collection = await super().get_collection(collection_id, request, **kwargs)
        return add_collection_links(cast(dict[str, Any], collection), self.tiler_url)

    async def _search_base(self, search_request: PgstacSearch, request: Request) -> Any:
        """pgstac's search, every item served with the web-map links of its mask (items are
        served only through here: searches, item lists and single items alike)."""
        found = await super()._search_base(search_request, request=request)
        for item in found.get("features", []):
            add_item_links(cast(dict[str, Any], item), self.tiler_url)
        return found

    def _clean_search_args(
        self,
        base_args: dict[str, Any],
        *args: Any,
        filter_query: str | None = None,
        filter_lang: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """stac-fastapi's argument cleaning, with every ``filter`` parsed by :func:`parse_filter`
        (within the limits) instead of handed to the cql2 library as it came."""
        if filter_query:
            base_args = {
                **base_args,
                "filter": parse_filter(filter_query, filter_lang, self.filter_limits),
                "filter_lang": "cql2-json",
            }
        return cast(dict[str, Any], super()._clean_search_args(base_args, *args, **kwargs))

    # ---- item search -----------------------------------------------------------------------

    async def post_search(
        self, search_request: PgstacSearch, request: Request, **kwargs: Any
    ) -> GeoJSONResponse:
        """``POST /search``."""
        fields = getattr(search_request, "fields", None)
        spec = None
        if fields is not None and "fields" in search_request.model_fields_set:
            spec = FieldsSpec.from_post({k: getattr(fields, k) for k in fields.model_fields_set})
        filter_ = search_request.filter_expr
        if filter_ is not None:
            # CQL2 text (or JSON as a string) becomes the CQL2 JSON that pgstac reads
            lang = cast(str | None, getattr(search_request, "filter_lang", None))
            cql2 = parse_filter(filter_, lang, self.filter_limits)
            search_request = search_request.model_copy(
                update={"filter_expr": cql2, "filter_lang": "cql2-json"}
            )
        return await self._search(search_request, request, spec, items_of=None)

    async def get_search(
        self,
        request: Request,
        collections: list[str] | None = None,
        ids: list[str] | None = None,
        bbox: Any = None,
        intersects: str | None = None,
        datetime: str | None = None,
        limit: int | None = None,
        query: str | None = None,
        fields: list[str] | None = None,
        sortby: list[str] | None = None,
        filter_expr: str | None = None,
        filter_lang: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> GeoJSONResponse:
        """``GET /search``."""
        args = {"collections": collections, "ids": ids, "bbox": bbox, "limit": limit}
        search = self._get_request(
            args, intersects, datetime, query, sortby, filter_expr, filter_lang, token
        )
        return await self._search(search, request, self._get_fields(request), items_of=None)

    async def item_collection(
        self,
        collection_id: str,
        request: Request,
        bbox: Any = None,
        datetime: str | None = None,
        limit: int | None = None,
        query: str | None = None,
        fields: list[str] | None = None,
        sortby: list[str] | None = None,
        filter_expr: str | None = None,
        filter_lang: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> GeoJSONResponse:
        """``GET /collections/{collection_id}/items``."""
        await self.get_collection(collection_id, request=request)  # 404 when unknown
        args = {"collections": [collection_id], "bbox": bbox, "limit": limit}
        search = self._get_request(
            args, None, datetime, query, sortby, filter_expr, filter_lang, token
        )
        return await self._search(
            search, request, self._get_fields(request), items_of=collection_id
        )

    def _get_fields(self, request: Request) -> FieldsSpec | None:
        # Read from the query string itself: ``?fields=`` (the default fields) must differ
        # from no ``fields`` at all, and the parsed parameter is None for both.
        raw = request.query_params.get("fields")
        return None if raw is None else FieldsSpec.from_get(raw.split(","))

    def _get_request(
        self,
        args: dict[str, Any],
        intersects: str | None,
        datetime: str | None,
        query: str | None,
        sortby: list[str] | None,
        filter_expr: str | None,
        filter_lang: str | None,
        token: str | None,
    ) -> PgstacSearch:
        """The search model of a GET request, each parameter checked with a clear message."""
        args = {**args, "token": token}
        if query:
            args["query"] = parse_query(query)
        if intersects:
            try:
                args["intersects"] = orjson.loads(intersects)
            except orjson.JSONDecodeError as exc:
                raise InvalidParameter(f"intersects is not GeoJSON: {exc}") from exc
        clean = self._clean_search_args(
            base_args=args,
            datetime=datetime,
            sortby=sortby,
            filter_query=filter_expr,
            filter_lang=filter_lang,
        )
        try:
            return self.pgstac_search_model(**clean)
        except ValidationError as exc:
            raise InvalidParameter(describe_validation_errors(exc.errors())) from exc

    async def _search(
        self,
        search: PgstacSearch,
        request: Request,
        fields: FieldsSpec | None,
        items_of: str | None,
    ) -> GeoJSONResponse:
        """Check, run and shape one search; ``items_of`` is the collection of ``/items``."""
        if search.limit is not None:
            search = search.model_copy(update={"limit": self._limit(search.limit)})
        if search.collections and items_of is None:
            await self._check_collections(request, search.collections)
        if search.sortby:
            await self._check_sortby(request, search)
        query = getattr(search, "query", None)
        cql2 = _and(search.filter_expr, query_to_cql2(query, ARRAYS) if query else None)
        update: dict[str, Any] = {"query": None, "fields": None, "filter_expr": cql2}
        if cql2 is not None:
            update["filter_lang"] = "cql2-json"
        item_collection = await self._search_base(search.model_copy(update=update), request)

        if items_of is None:
            links = SearchLinks(request=request)
        else:
            links = ItemCollectionLinks(collection_id=items_of, request=request)
        item_collection["links"] = await links.get_links(extra_links=item_collection["links"])
        if fields is not None:
            item_collection["features"] = [
                fields.apply(cast(dict[str, Any], f)) for f in item_collection["features"]
            ]
        return GeoJSONResponse(item_collection)

    # ---- checks ----------------------------------------------------------------------------

    def _limit(self, limit: int | None) -> int | None:
        """The page size to use: above the maximum, the maximum (as the STAC API and OGC API
        Features specifications require), or a 400 when the operator chose to refuse."""
        if limit is None or limit <= self.max_limit:
            return limit
        if not self.refuse_limit_above_max:
            return self.max_limit
        raise LimitTooLarge(
            f"limit {limit} is above the maximum page size of {self.max_limit}; "
            "page through the results with the 'next' links instead"
        )

    async def _check_collections(self, request: Request, collections: list[str]) -> None:
        async with request.app.state.get_connection(request, "r") as conn:
            found = await conn.fetchval(
                "SELECT coalesce(array_agg(id), '{}') FROM collections WHERE id = ANY($1::text[])",
                collections,
            )
        missing = sorted(set(collections) - set(found))
        if missing:
            raise NotFound(f"collection(s) not found: {', '.join(missing)}")

    async def _check_sortby(self, request: Request, search: PgstacSearch) -> None:
        sortable = await self._sortable(request, search.collections)
        for sort in search.sortby or []:
            name = sort.field.removeprefix("properties.")
            if name not in sortable:
                raise InvalidSort(
                    f"cannot sort by {sort.field!r}: sortable fields are "
                    + ", ".join(sorted(sortable))
                )

    async def _sortable(self, request: Request, collections: list[str] | None) -> frozenset[str]:
        """Fields one can sort by: the item columns and the queryables (cached a while)."""
        key = tuple(sorted(collections or ()))
        cached = self._sortable_cache.get(key)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        async with request.app.state.get_connection(request, "r") as conn:
            schema = await conn.fetchval(
                "SELECT get_queryables($1::text[])", list(key) if key else None
            )
        names = set((schema or {}).get("properties", {})) - {"geometry"}
        sortable = CORE_SORTABLE | names
        self._sortable_cache[key] = (now + self.queryables_ttl, sortable)
        return sortable


COLLECTION_IDENTITY = ("id", "links")
"""What every listed collection keeps whatever ``fields`` asks: a client follows it by these."""


def _collection_fields(fields: list[str]) -> list[str]:
    """Collection-search ``fields`` that keep each collection's id and links (stac-fastapi
    builds the links from the id, and a collection without them cannot be followed)."""
    kept = [f for f in fields if f.strip().lstrip("+-") not in COLLECTION_IDENTITY]
    if any(f.strip() and not f.strip().startswith("-") for f in kept):
        kept += COLLECTION_IDENTITY  # an include list: include them too
    return kept

"""The transaction extensions (items and collections), as the specification words them.

https://github.com/stac-api-extensions/transaction, "Methods":

- ``POST /collections/{id}/items`` takes a *partial* item (the server fills in ``collection``
  and the links, so an item without ``links`` is accepted) and answers 201 with a
  ``Location`` header and the new item.
- ``PUT`` and ``PATCH`` answer 204 without a body; with ``Prefer: return=representation``
  (RFC 7240) they answer 200 with the updated resource. Both are allowed by the spec.
- ``DELETE`` answers 204, also when nothing was there: "Returning a 200 or 204 is also valid
  in this situation", and it makes a retried DELETE harmless.

Every write is atomic with its answer: the database work of a request runs in one transaction
(:func:`write_transaction`) that commits only once the response is built, so an error on the
way (a header that cannot be encoded, a link that cannot be made) leaves nothing written.

Only mounted when API keys are configured; ``app.py`` puts the key check on every route.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the annotations of these
# request classes at runtime, through attrs-generated ``__init__``s that cannot resolve strings.

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, cast
from urllib.parse import quote

import attr
import jsonpatch
import jsonpointer
from asyncpg import Connection
from fastapi import APIRouter, Body, FastAPI, Request
from json_merge_patch import merge
from pydantic import BaseModel, Field, ValidationError
from stac_fastapi.api.models import CollectionUri, GeoJSONResponse, ItemUri, JSONResponse
from stac_fastapi.api.routes import create_async_endpoint
from stac_fastapi.extensions.transaction import TransactionExtension
from stac_fastapi.extensions.transaction.transaction import (
    PatchCollection,
    PatchItem,
    PutCollection,
)
from stac_fastapi.pgstac.db import dbfunc
from stac_fastapi.pgstac.models.links import CollectionLinks, ItemLinks
from stac_fastapi.pgstac.transactions import TransactionsClient
from stac_fastapi.types.errors import ConflictError, NotFoundError
from stac_pydantic import Collection, Item, ItemCollection
from stac_pydantic.links import Links
from starlette.responses import Response

from catalog_api.errors import (
    BadRequest,
    Conflict,
    describe_validation_errors,
    translate_database_errors,
)

NO_CONTENT = 204
DONE = "Done (200 with the resource when sent Prefer: return=representation)"


class PartialItem(Item):
    """An item as a client may send it: the server makes the links."""

    links: Links = Field(default_factory=lambda: Links([]))


class PartialItemCollection(ItemCollection):
    """A feature collection of partial items."""

    features: Sequence[PartialItem]


@attr.s
class PostItem(CollectionUri):
    """Create an item (or several, as a feature collection)."""

    item: Annotated[PartialItem | PartialItemCollection, Body()] = attr.ib(default=None)


@attr.s
class PutItem(ItemUri):
    """Replace an item."""

    item: Annotated[PartialItem, Body()] = attr.ib(default=None)


def wants_representation(request: Request) -> bool:
    """Whether the client asked for the resource back (``Prefer: return=representation``)."""
    prefer = request.headers.get("prefer", "")
    return any(p.strip() == "return=representation" for p in prefer.split(","))


@contextlib.asynccontextmanager
async def write_transaction(request: Request) -> AsyncIterator[Connection]:
    """The request's write connection, in a transaction committed when the block ends.

    ``app.py``'s connection getter hands this connection to every ``"w"`` use inside the
    block, so all of a request's writes commit together, or not at all.
    """
    current: Connection | None = getattr(request.state, "kappacat_write", None)
    if current is not None:
        yield current
        return
    with translate_database_errors():
        async with request.app.state.writepool.acquire() as conn, conn.transaction():
            request.state.kappacat_write = conn
            try:
                yield conn
            finally:
                request.state.kappacat_write = None


def _location(resource: dict[str, Any]) -> dict[str, str] | None:
    """A ``Location`` header for the resource's self link, percent-encoded (a header is
    Latin-1: an id with another character must not fail the answer)."""
    for link in resource.get("links", []):
        if link.get("rel") == "self":
            return {"Location": quote(str(link["href"]), safe=":/?#[]@!$&'()*+,;=%")}
    return None


def required(value: Any, what: str) -> Any:
    """``value``, or a 400 saying the request needs ``what`` as its body."""
    if value is None:
        raise BadRequest(f"the request needs a body: {what}")
    return value


def check_geometry(item: Any) -> None:
    """Refuse a geometry collection inside another: PostGIS stores one but cannot write it
    back as GeoJSON, so every later search over the item would fail."""
    if isinstance(item, BaseModel):
        item = item.model_dump(mode="json")
    features = item.get("features") if item.get("type") == "FeatureCollection" else [item]
    for feature in features or []:
        geometry = (feature or {}).get("geometry") or {}
        inner = geometry.get("geometries") if geometry.get("type") == "GeometryCollection" else []
        if any((g or {}).get("type") == "GeometryCollection" for g in inner or []):
            what = f"item {feature.get('id')!r}"
            raise BadRequest(f"{what}: a GeometryCollection inside a GeometryCollection")


def _patched(existing: dict[str, Any], patch: Any, what: str) -> dict[str, Any]:
    """``existing`` with a JSON patch (RFC 6902) or a merge patch (RFC 7396) applied."""
    if isinstance(patch, list):
        operations = [op.model_dump(mode="json") for op in patch]
        try:
            return cast(dict[str, Any], jsonpatch.JsonPatch(operations).apply(existing))
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            reason = str(exc).split(" in {")[0]  # not the whole document
            raise BadRequest(f"the patch cannot be applied to {what}: {reason}") from exc
    if isinstance(patch, BaseModel):
        return cast(dict[str, Any], merge(existing, patch.model_dump(mode="json")))
    raise BadRequest(f"a patch of {what} is a list of operations or a partial object")


def _valid(model: type[BaseModel], value: dict[str, Any], what: str, expected_id: str) -> None:
    """Refuse a patch whose result is not a valid STAC object or changes its id."""
    try:
        model.model_validate(value)
    except ValidationError as exc:
        message = describe_validation_errors(exc.errors())
        raise BadRequest(f"the patched {what} is not valid: {message}") from exc
    if value.get("id") != expected_id:
        raise BadRequest(f"a patch cannot change the id of {what}")


def _updated(request: Request, resource: Any, media: type[JSONResponse]) -> Response:
    if wants_representation(request):
        return media(resource)
    return Response(status_code=NO_CONTENT)


@attr.s
class CatalogTransactionsClient(TransactionsClient):
    """pgstac's transactions with the status codes and headers described above."""

    async def create_item(self, *args: Any, request: Request, **kwargs: Any) -> Response:
        """Create an item: 201 with ``Location``; a feature collection: 201 without."""
        check_geometry(required(kwargs.get("item"), "an item or a feature collection of items"))
        await self.get_existing_collection(request, kwargs["collection_id"])
        async with write_transaction(request):
            try:
                created = await super().create_item(*args, request=request, **kwargs)
            except ConflictError as exc:
                where = kwargs.get("collection_id")
                raise Conflict(f"an item with this id already exists in {where!r}") from exc
            if isinstance(created, Response):
                return created
            item = cast(dict[str, Any], created)
            return GeoJSONResponse(item, status_code=201, headers=_location(item))

    async def update_item(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Replace an item: 204, or 200 with the item when asked."""
        collection_id, item_id = kwargs["collection_id"], kwargs["item_id"]
        body = required(kwargs.get("item"), "the item")
        check_geometry(body)
        body_id = body.id
        if body_id != item_id:
            raise BadRequest(f"the item's id {body_id!r} differs from {item_id!r} in the URL")
        await self.get_existing_item(request, collection_id, item_id)
        async with write_transaction(request):
            item = await super().update_item(request, *args, **kwargs)
            return _updated(request, item, GeoJSONResponse)

    async def patch_item(
        self,
        collection_id: str,
        item_id: str,
        patch: Any,
        request: Request,
        **kwargs: Any,
    ) -> Response:
        """Patch an item (JSON patch or merge patch): 204, or 200 with the item when asked.
        The result must be a valid item with the same id."""
        required(patch, "a JSON patch or a partial item")
        what = f"item {item_id!r} of {collection_id!r}"
        async with request.app.state.get_connection(request, "r") as conn:
            existing = await conn.fetchval("SELECT get_item($1, $2)", item_id, collection_id)
        if existing is None:
            raise NotFoundError(f"Item {item_id} does not exist in collection {collection_id}.")
        item = _patched(existing, patch, what)
        _valid(PartialItem, item, what, item_id)
        check_geometry(item)
        self._validate_item(request, cast(Any, item), collection_id, item_id)
        item["collection"] = collection_id
        async with write_transaction(request) as conn:
            await dbfunc(conn, "update_item", item)
            links = ItemLinks(collection_id=collection_id, item_id=item_id, request=request)
            item["links"] = await links.get_links(extra_links=item.get("links"))
            return _updated(request, item, GeoJSONResponse)

    async def delete_item(self, *args: Any, request: Request, **kwargs: Any) -> Response:
        """Delete an item: 204, also when it did not exist."""
        async with write_transaction(request):
            with contextlib.suppress(NotFoundError):
                await super().delete_item(*args, request=request, **kwargs)
            return Response(status_code=NO_CONTENT)

    async def create_collection(self, *args: Any, request: Request, **kwargs: Any) -> Response:
        """Create a collection: 201 with ``Location`` (FastAPI requires its body)."""
        async with write_transaction(request):
            try:
                created = await super().create_collection(*args, request=request, **kwargs)
            except ConflictError as exc:
                raise Conflict("a collection with this id already exists") from exc
            collection = cast(dict[str, Any], created)
            return JSONResponse(collection, status_code=201, headers=_location(collection))

    async def update_collection(self, *args: Any, request: Request, **kwargs: Any) -> Response:
        """Replace a collection: 204, or 200 with it when asked."""
        body_id = required(kwargs.get("collection"), "the collection").id
        collection_id = kwargs["collection_id"]
        if body_id != collection_id:
            raise BadRequest(f"the collection's id {body_id!r} differs from {collection_id!r}")
        async with write_transaction(request):
            collection = await super().update_collection(*args, request=request, **kwargs)
            return _updated(request, collection, JSONResponse)

    async def patch_collection(
        self, collection_id: str, patch: Any, request: Request, **kwargs: Any
    ) -> Response:
        """Patch a collection (JSON patch or merge patch): 204, or 200 with it when asked.
        The result must be a valid collection with the same id."""
        required(patch, "a JSON patch or a partial collection")
        what = f"collection {collection_id!r}"
        async with request.app.state.get_connection(request, "r") as conn:
            existing = await conn.fetchval("SELECT get_collection($1)", collection_id)
        if existing is None:
            raise NotFoundError(f"Collection {collection_id} does not exist.")
        collection = _patched(existing, patch, what)
        _valid(Collection, collection, what, collection_id)
        self._validate_collection(request, cast(Any, collection))
        async with write_transaction(request) as conn:
            await dbfunc(conn, "update_collection", collection)
            links = CollectionLinks(collection_id=collection_id, request=request)
            collection["links"] = await links.get_links(extra_links=collection.get("links"))
            return _updated(request, collection, JSONResponse)

    async def delete_collection(self, *args: Any, request: Request, **kwargs: Any) -> Response:
        """Delete a collection: 204, also when it did not exist."""
        async with write_transaction(request):
            with contextlib.suppress(NotFoundError):
                await super().delete_collection(*args, request=request, **kwargs)
            return Response(status_code=NO_CONTENT)

    async def get_existing_collection(self, request: Request, collection_id: str) -> None:
        """Raise NotFoundError unless the collection exists (items go into one)."""
        async with request.app.state.get_connection(request, "r") as conn:
            found = await conn.fetchval("SELECT 1 FROM collections WHERE id = $1", collection_id)
        if not found:
            raise NotFoundError(f"Collection {collection_id} does not exist.")

    async def get_existing_item(self, request: Request, collection_id: str, item_id: str) -> None:
        """Raise NotFoundError unless the item exists (PUT must answer 404 for a new id)."""
        async with request.app.state.get_connection(request, "r") as conn:
            found = await conn.fetchval(
                "SELECT 1 FROM items WHERE collection = $1 AND id = $2", collection_id, item_id
            )
        if not found:
            raise NotFoundError(f"Item {item_id} in Collection {collection_id} does not exist.")


def _documented(status: int, media: str, description: str) -> dict[int | str, dict[str, Any]]:
    content: dict[str, Any] = {media: {}} if status != NO_CONTENT else {}
    return {status: {"description": description, "content": content}}


@attr.s
class CatalogTransactionExtension(TransactionExtension):
    """The transaction routes, with partial items accepted and 201/204 answers."""

    def register(self, app: FastAPI) -> None:
        """Add the item and collection write routes to ``app``."""
        router = APIRouter(prefix=app.state.router_prefix)
        client = self.client
        geojson, json = "application/geo+json", "application/json"
        items = "/collections/{collection_id}/items"
        routes: list[tuple[str, str, str, Any, Any, int, str]] = [
            ("Create Item", items, "POST", client.create_item, PostItem, 201, geojson),
            ("Update Item", items + "/{item_id}", "PUT", client.update_item, PutItem, 204, ""),
            ("Patch Item", items + "/{item_id}", "PATCH", client.patch_item, PatchItem, 204, ""),
            ("Delete Item", items + "/{item_id}", "DELETE", client.delete_item, ItemUri, 204, ""),
            ("Create Collection", "/collections", "POST", client.create_collection, Collection,
             201, json),
            ("Update Collection", "/collections/{collection_id}", "PUT",
             client.update_collection, PutCollection, 204, ""),
            ("Patch Collection", "/collections/{collection_id}", "PATCH",
             client.patch_collection, PatchCollection, 204, ""),
            ("Delete Collection", "/collections/{collection_id}", "DELETE",
             client.delete_collection, CollectionUri, 204, ""),
        ]  # fmt: skip
        for name, path, method, endpoint, model, status, media in routes:
            description = "Created" if status == 201 else DONE
            router.add_api_route(
                name=name,
                path=path,
                methods=[method],
                status_code=status,
                endpoint=create_async_endpoint(endpoint, model),
                responses=_documented(status, media, description),
                response_class=self.response_class,
                dependencies=self.route_dependencies,
            )
        app.include_router(router, tags=["Transaction Extension"])

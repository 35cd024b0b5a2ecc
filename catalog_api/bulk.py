"""The bulk transaction route (``POST /collections/{collection_id}/bulk_items``).

stac-fastapi's route leaves its path parameter out of the OpenAPI document (which makes the
document invalid) and stac-fastapi-pgstac inserts the items without checking that they are
STAC items; here each item is validated (a bad one is reported, the others inserted) and the
writes commit with the answer, as the other write routes do (``transactions.py``).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the annotations of the request
# class at runtime, through an attrs-generated ``__init__`` that cannot resolve strings.

from typing import Annotated, Any, cast

import attr
from fastapi import APIRouter, Body, FastAPI, Request
from pydantic import ValidationError
from stac_fastapi.api.models import CollectionUri, JSONResponse
from stac_fastapi.api.routes import create_async_endpoint
from stac_fastapi.extensions.bulk_transactions import (
    BulkTransactionExtension,
    BulkTransactionModel,
    Items,
)
from stac_fastapi.pgstac.transactions import BulkTransactionsClient
from stac_fastapi.types.errors import NotFoundError

from catalog_api.errors import BadRequest, describe_validation_errors
from catalog_api.transactions import PartialItem, check_geometry, required, write_transaction


@attr.s
class BulkItems(CollectionUri):
    """Create or upsert many items of a collection (``{"items": {id: item}, "method": ...}``)."""

    items: Annotated[Items, Body()] = attr.ib(default=None)


@attr.s
class CatalogBulkTransactionsClient(BulkTransactionsClient):
    """pgstac's bulk insert, with each item validated as STAC and the writes in one
    transaction committed with the answer."""

    async def bulk_item_insert(self, items: Items | None, request: Request, **kwargs: Any) -> Any:
        """Insert (or upsert) the items that are valid; the others are reported as errors."""
        body = cast(Items, required(items, '{"items": {"<id>": <item>, ...}}'))
        collection_id = kwargs["collection_id"]
        async with request.app.state.get_connection(request, "r") as conn:
            if not await conn.fetchval("SELECT 1 FROM collections WHERE id = $1", collection_id):
                raise NotFoundError(f"Collection {collection_id} does not exist.")
        valid, errors = {}, []
        for item_id, item in body.items.items():
            try:
                PartialItem.model_validate(item)
                check_geometry(item)
            except ValidationError as exc:
                errors.append({"id": item_id, "msg": describe_validation_errors(exc.errors())})
            except BadRequest as exc:
                errors.append({"id": item_id, "msg": exc.description})
            else:
                valid[item_id] = item
        async with write_transaction(request):
            result = await super().bulk_item_insert(
                body.model_copy(update={"items": valid}), request=request, **kwargs
            )
        result = dict(result)
        result["received"] = len(body.items)
        result["errors"] = [*errors, *result.get("errors", [])]
        return result


@attr.s
class CatalogBulkTransactionExtension(BulkTransactionExtension):
    """``POST /collections/{collection_id}/bulk_items``, with its path parameter in the
    OpenAPI document (stac-fastapi's route leaves it out, which makes the document invalid)."""

    def register(self, app: FastAPI) -> None:
        """Add the bulk route to ``app``."""
        router = APIRouter(prefix=app.state.router_prefix)
        router.add_api_route(
            name="Bulk Create Item",
            path="/collections/{collection_id}/bulk_items",
            response_model=BulkTransactionModel,
            response_class=JSONResponse,
            methods=["POST"],
            endpoint=create_async_endpoint(self.client.bulk_item_insert, BulkItems),
            dependencies=self.route_dependencies,
        )
        app.include_router(router, tags=["Bulk Transaction Extension"])

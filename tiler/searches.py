"""The list of registered searches (mosaics), as titiler-pgstac offers it, with bound inputs.

titiler-pgstac's route built its SQL with the caller's metadata filters inlined as literals
(a ``%`` in one failed the query with a 500) and passed any offset to PostgreSQL (beyond bigint:
a 500). Here every value is a query parameter and the offset is bounded.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.datastructures import QueryParams
from starlette.requests import Request
from titiler.pgstac import model

from tiler.dependencies import app_state

MAX_OFFSET = 1_000_000_000
OWN_PARAMETERS = {"limit", "offset", "sortby"}


def _page_link(request: Request, rel: str, limit: int, offset: int) -> model.Link:
    query = QueryParams({**request.query_params, "limit": limit, "offset": offset})
    base = str(request.url.replace(query=""))
    return model.Link(rel=rel, href=f"{base}?{query}")


def _search_links(request: Request, search_id: str) -> list[model.Link]:
    base = str(request.base_url).rstrip("/") + f"/searches/{search_id}"
    return [
        model.Link(rel="metadata", title="Mosaic metadata", href=f"{base}/info"),
        model.Link(
            rel="tilejson",
            title="Link for TileJSON (Template URL)",
            href=f"{base}/{{tileMatrixSetId}}/tilejson.json",
            templated=True,
        ),
    ]


def register(router: APIRouter) -> None:
    """Add ``/searches/`` (and its deprecated alias ``/searches/list``)."""

    def list_searches(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000, description="Page size limit")] = 10,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Page offset")] = 0,
        sortby: Annotated[
            str | None,
            Query(
                description="Sort by lastused, usecount or a metadata property (`-` first "
                "for descending), comma separated."
            ),
        ] = None,
    ) -> model.Infos:
        """Registered mosaic searches; other query parameters filter on their metadata."""
        filters = {
            key: value
            for key, value in request.query_params.items()
            if key.lower() not in OWN_PARAMETERS
        }
        order = []
        for part in (sortby or "").split(","):
            name = part.strip()
            if name.lstrip("+-"):
                order.append((name.lstrip("+-"), name.startswith("-")))
        rows, matched = app_state(request).catalog.list_searches(limit, offset, filters, order)
        links = [_page_link(request, "self", limit, offset)]
        if offset + len(rows) < matched:
            links.append(_page_link(request, "next", limit, offset + len(rows)))
        if offset > 0:
            links.append(_page_link(request, "prev", limit, max(offset - limit, 0)))
        return model.Infos(
            searches=[model.Info(search=s, links=_search_links(request, s.id)) for s in rows],
            links=links,
            context=model.Context(returned=len(rows), limit=limit, matched=matched),
        )

    common: dict[str, Any] = {
        "response_model": model.Infos,
        "response_model_exclude_none": True,
        "tags": ["Registered searches"],
    }
    router.get("/searches/", operation_id="searches.getMosaicList", **common)(list_searches)
    router.get(
        "/searches/list",
        operation_id="searches.getMosaicList-deprecated",
        deprecated=True,
        **common,
    )(list_searches)

"""The tiler's errors and the one map that turns every error into an HTTP status with JSON."""

from __future__ import annotations

import logging
from typing import Any, cast
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, status
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field, ValidationError
from rio_tiler.errors import PointOutsideBounds
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from titiler.core.errors import DEFAULT_STATUS_CODES
from titiler.mosaic.errors import MOSAIC_STATUS_CODES
from titiler.pgstac.errors import PGSTAC_STATUS_CODES

logger = logging.getLogger(__name__)


class TilerError(Exception):
    """Base of every error the tiler raises on purpose; ``status_code`` is its HTTP status."""

    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR


class BadRequest(TilerError):
    """The request is malformed or asks for more than the configured limits allow."""

    status_code = status.HTTP_400_BAD_REQUEST


class NotFound(TilerError):
    """A collection, item, search or tile that does not exist."""

    status_code = status.HTTP_404_NOT_FOUND


class AssetNotAllowed(TilerError):
    """An item's asset lies outside the storage roots the tiler may read."""

    status_code = status.HTTP_403_FORBIDDEN


class MaskMissing(NotFound):
    """An item's mask file is not where its href says, though the href is under the roots."""


class MaskUnreadable(TilerError):
    """An item's mask file exists but cannot be read as a raster (a fault of our storage)."""


BROKEN_ITEM_ERRORS: tuple[type[Exception], ...] = (AssetNotAllowed, MaskMissing, MaskUnreadable)
"""What one broken item raises: mosaics and queries skip that item and say so."""

SKIPPED_HEADER = "KappaCat-Skipped-Items"
"""Header of a tile or query answer that left out broken items: ``collection/id`` of each
(percent-encoded), comma separated; the JSON answers of queries also give the reasons."""


class SkippedItem(BaseModel):
    """An item left out of a mosaic tile or a query answer because its mask cannot be read."""

    id: str
    collection: str
    reason: str = Field(description="why the item's mask could not be read")

    @classmethod
    def of(cls, item: dict[str, Any], error: Exception) -> SkippedItem:
        """The record of ``item`` left out because of ``error`` (logged as a warning)."""
        logger.warning("left out of the answer: %s", error)
        collection, item_id = str(item.get("collection")), str(item.get("id"))
        return cls(id=item_id, collection=collection, reason=str(error))


def skipped_header(items: list[SkippedItem]) -> dict[str, str]:
    """The :data:`SKIPPED_HEADER` of an answer (empty when nothing was left out)."""
    if not items:
        return {}
    labels = [f"{quote(i.collection, safe='')}/{quote(i.id, safe='')}" for i in items]
    return {SKIPPED_HEADER: ", ".join(dict.fromkeys(labels))}


class DatabaseUnavailable(TilerError):
    """The catalogue database does not answer (or the pool is exhausted)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


class StatementTimeout(DatabaseUnavailable):
    """The database cancelled a query that ran past the statement timeout."""


class TooManySearches(TilerError):
    """The registered searches are at their limit and none is old enough to recycle."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


class NotModified(TilerError):
    """The client's cached copy is current: answered with 304 and the same cache headers."""

    status_code = status.HTTP_304_NOT_MODIFIED

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("not modified")
        self.headers = headers


STATUS_CODES: dict[type[Exception], int] = {
    **DEFAULT_STATUS_CODES,
    **MOSAIC_STATUS_CODES,
    **cast(dict[type[Exception], int], PGSTAC_STATUS_CODES),
    PointOutsideBounds: status.HTTP_404_NOT_FOUND,
    ValidationError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    psycopg.OperationalError: status.HTTP_503_SERVICE_UNAVAILABLE,
    PoolTimeout: status.HTTP_503_SERVICE_UNAVAILABLE,
    TilerError: status.HTTP_500_INTERNAL_SERVER_ERROR,
}
"""Exception class to HTTP status; the most specific class of an exception wins."""


def error_response(status_code: int, code: str, description: str) -> Response:
    """The tiler's JSON error answer (``code`` is for logs; the body is ``{"detail": ...}``)."""
    return JSONResponse({"detail": description}, status_code=status_code)


def _status_for(exc: Exception) -> int:
    if isinstance(exc, TilerError):
        return exc.status_code
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def _handle(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotModified):
        return Response(status_code=exc.status_code, headers=exc.headers)
    code = _status_for(exc)
    if code == status.HTTP_204_NO_CONTENT:
        return Response(status_code=code)
    if code >= 500:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        detail = str(exc) if isinstance(exc, TilerError) else "internal error"
    else:
        detail = str(exc)
    return JSONResponse({"detail": detail}, status_code=code)


def _handle_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_304_NOT_MODIFIED:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _handle_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def add_exception_handlers(app: FastAPI) -> None:
    """Answer every error with its status from :data:`STATUS_CODES` and a JSON body."""
    for exc_class in STATUS_CODES:
        app.add_exception_handler(exc_class, _handle)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(RequestValidationError, _handle_validation)

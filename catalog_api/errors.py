"""The API's errors: one hierarchy, one status map, one place that turns them into responses.

Every error response is a JSON body ``{"code": ..., "description": ...}`` (the STAC API
``Exception`` schema). Bad input is a 4xx that says what is wrong with it; a 5xx only ever means
a fault on our side. Database errors are translated in :func:`translate_database_errors`, used by
the connection getter, so that a filter pgstac refuses is a 400 and not a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from stac_fastapi.api.models import JSONResponse
from stac_fastapi.types import errors as stac_errors
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """Base of the API's errors; ``status_code`` and ``code`` say how it is answered."""

    status_code: int = status.HTTP_500_INTERNAL_SERVER_ERROR
    code: str = "InternalServerError"

    def __init__(self, description: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    """The request cannot be answered as it stands (400)."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "BadRequest"


class InvalidParameter(BadRequest):
    """A parameter has a value the API does not accept (bbox, datetime, limit, ids...)."""

    code = "InvalidParameter"


class LimitTooLarge(InvalidParameter):
    """``limit`` is above the largest page the API serves."""

    code = "LimitTooLarge"


class InvalidFilter(BadRequest):
    """A CQL2 filter (text or JSON) that does not parse or cannot be evaluated."""

    code = "InvalidFilter"


class FilterTooComplex(BadRequest):
    """A filter longer or more deeply nested than the configured limits allow."""

    code = "FilterTooComplex"


class InvalidQuery(BadRequest):
    """A ``query`` (query extension) that is not valid."""

    code = "InvalidQuery"


class InvalidSort(BadRequest):
    """A ``sortby`` on a field the API cannot sort by."""

    code = "InvalidSort"


class InvalidFields(BadRequest):
    """A ``fields`` value that is not valid."""

    code = "InvalidFields"


class NotAuthenticated(ApiError):
    """A write route called without a valid API key (401)."""

    status_code = status.HTTP_401_UNAUTHORIZED
    code = "NotAuthenticated"


class NotFound(ApiError):
    """A collection or item that does not exist (404)."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "NotFound"


class Conflict(ApiError):
    """The resource already exists (409)."""

    status_code = status.HTTP_409_CONFLICT
    code = "Conflict"


class StatementTimeout(ApiError):
    """The database cancelled a query that ran past the statement timeout (503)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "StatementTimeout"


class DatabaseUnavailable(ApiError):
    """The catalogue database cannot be reached right now (503)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "DatabaseUnavailable"


# stac-fastapi's own errors, raised inside the code we build on.
STAC_FASTAPI_STATUS: dict[type[Exception], tuple[int, str]] = {
    stac_errors.NotFoundError: (status.HTTP_404_NOT_FOUND, "NotFound"),
    stac_errors.ConflictError: (status.HTTP_409_CONFLICT, "Conflict"),
    stac_errors.ForeignKeyError: (status.HTTP_424_FAILED_DEPENDENCY, "ForeignKeyError"),
    stac_errors.DatabaseError: (status.HTTP_424_FAILED_DEPENDENCY, "DatabaseError"),
    stac_errors.InvalidQueryParameter: (status.HTTP_400_BAD_REQUEST, "InvalidParameter"),
}

HTTP_CODES = {
    400: "BadRequest",
    401: "NotAuthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "UnprocessableEntity",
}


def error_response(
    status_code: int, code: str, description: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON body every error is answered with."""
    return JSONResponse(
        status_code=status_code,
        content={"code": code, "description": description},
        headers=dict(headers) if headers else None,
    )


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """Pydantic's validation errors as one readable line: where, and what is wrong."""
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "invalid JSON")
            parts.append(f"the request body is not valid JSON: {reason} (at {error['loc'][-1]})")
            continue
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc)
        msg = str(error.get("msg", "invalid value"))
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid request"


@contextmanager
def translate_database_errors() -> Generator[None, None, None]:
    """Turn what PostgreSQL and pgstac raise into API errors."""
    try:
        yield
    except asyncpg.exceptions.UniqueViolationError as exc:
        raise Conflict(f"already exists: {exc.detail or exc}") from exc
    except asyncpg.exceptions.NoDataFoundError as exc:
        raise NotFound(str(exc)) from exc
    except asyncpg.exceptions.ForeignKeyViolationError as exc:
        raise stac_errors.ForeignKeyError(str(exc)) from exc
    except asyncpg.exceptions.QueryCanceledError as exc:
        raise StatementTimeout(
            "the catalogue cancelled the query: it ran longer than the statement timeout "
            "(KAPPACAT_API_STATEMENT_TIMEOUT_S); narrow the request (a smaller area, a shorter "
            "time range, a simpler filter)"
        ) from exc
    except asyncpg.exceptions.NotNullViolationError as exc:
        raise BadRequest(f"a required value is missing: {exc}") from exc
    except asyncpg.exceptions.CheckViolationError as exc:
        raise BadRequest(f"the catalogue cannot store this: {exc}") from exc
    except (asyncpg.exceptions.RaiseError, asyncpg.exceptions.DataError) as exc:
        # pgstac RAISEs on input it cannot use (unknown operator, bad token, malformed
        # arguments); DataError is invalid text for a type (datetime, number).
        raise BadRequest(f"the catalogue cannot answer this request: {exc}") from exc
    except (
        asyncpg.exceptions.PostgresConnectionError,
        asyncpg.exceptions.CannotConnectNowError,
        asyncpg.exceptions.TooManyConnectionsError,
        asyncpg.exceptions.InvalidCatalogNameError,  # the database was dropped
        asyncpg.exceptions.AdminShutdownError,
        OSError,  # refused, reset, unreachable
    ) as exc:
        raise DatabaseUnavailable(f"the catalogue database is unavailable: {exc}") from exc


def add_exception_handlers(app: FastAPI) -> None:
    """Answer every error as JSON with the status its class maps to (replacing stac-fastapi's)."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        if exc.status_code >= 500:
            logger.error("%s %s: %s", request.method, request.url.path, exc)
        return error_response(exc.status_code, exc.code, exc.description, exc.headers)

    def stac_error(status_code: int, code: str) -> Any:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            return error_response(status_code, code, str(exc) or code)

        return handler

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(
            status.HTTP_400_BAD_REQUEST, "InvalidRequest", describe_validation_errors(exc.errors())
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, "HttpError")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return error_response(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "the server failed to answer this request; it has been logged",
        )

    app.add_exception_handler(ApiError, api_error)
    for exc_class, (status_code, code) in STAC_FASTAPI_STATUS.items():
        app.add_exception_handler(exc_class, stac_error(status_code, code))
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)

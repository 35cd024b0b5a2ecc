"""The query extension with its whole operator set, answered as a CQL2 filter.

stac-fastapi-pgstac accepts only ``eq``/``neq``/``lt``/``lte``/``gt``/``gte`` and hands
``query`` to pgstac, which has no ``startsWith``, ``endsWith`` or ``contains``. Every
``query`` is translated here into the equivalent CQL2-JSON (``=``, ``<>``, ``<``, ``<=``,
``>``, ``>=``, ``like`` with an escaped pattern, ``in``), so one code path (pgstac's CQL2, which
reads each property through its queryable's type) answers both extensions.

``in`` on an array-valued property (``instruments``) matches an item when any of its elements
is one of the values (CQL2's ``a_overlaps``), as Earth Search answers it: as a plain CQL2
``in`` it would compare the whole array with each value and never match.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import attr
import orjson
from pydantic import BaseModel
from stac_fastapi.extensions.query import QueryExtension as BaseQueryExtension
from stac_fastapi.extensions.query.request import QueryExtensionGetRequest

from catalog_api.errors import InvalidQuery


class Operator(StrEnum):
    """The operators of the query extension (https://github.com/stac-api-extensions/query)."""

    eq = "eq"
    neq = "neq"
    lt = "lt"
    lte = "lte"
    gt = "gt"
    gte = "gte"
    startsWith = "startsWith"  # the spec's own spelling
    endsWith = "endsWith"
    contains = "contains"
    in_ = "in"


COMPARISONS = {
    Operator.eq: "=",
    Operator.neq: "<>",
    Operator.lt: "<",
    Operator.lte: "<=",
    Operator.gt: ">",
    Operator.gte: ">=",
}


class QueryPostRequest(BaseModel):
    """``query`` in a POST body: property -> {operator: value}."""

    query: dict[str, dict[Operator, Any]] | None = None


@attr.s
class QueryExtension(BaseQueryExtension):
    """The query extension, accepting every operator the specification lists."""

    GET = QueryExtensionGetRequest
    POST = QueryPostRequest


def _like_escape(value: str) -> str:
    """A literal string inside a CQL2 ``like`` pattern (``\\`` escapes ``%`` and ``_``)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _scalar(prop: str, op: str, value: Any) -> Any:
    if isinstance(value, dict | list) or value is None:
        raise InvalidQuery(f"query: {prop}.{op} needs a string, number or boolean")
    return value


def _condition(prop: str, op: str, value: Any, arrays: frozenset[str]) -> dict[str, Any]:
    try:
        operator = Operator(op)
    except ValueError:
        allowed = ", ".join(o.value for o in Operator)
        raise InvalidQuery(f"query: unknown operator {op!r} on {prop!r} (use {allowed})") from None
    target = {"property": prop}
    if operator in COMPARISONS:
        return {"op": COMPARISONS[operator], "args": [target, _scalar(prop, op, value)]}
    if operator is Operator.in_:
        if not isinstance(value, list) or not value:
            raise InvalidQuery(f"query: {prop}.in needs a non-empty list of values")
        values = [_scalar(prop, op, v) for v in value]
        return {"op": "a_overlaps" if prop in arrays else "in", "args": [target, values]}
    if not isinstance(value, str):
        raise InvalidQuery(f"query: {prop}.{op} needs a string")
    text = _like_escape(value)
    pattern = {
        Operator.startsWith: f"{text}%",
        Operator.endsWith: f"%{text}",
        Operator.contains: f"%{text}%",
    }[operator]
    return {"op": "like", "args": [target, pattern]}


def parse_query(value: str | dict[str, Any]) -> dict[str, Any]:
    """The ``query`` of a request as a dict (a GET request carries it as JSON text)."""
    if isinstance(value, dict):
        return value
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidQuery(f"query: not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise InvalidQuery("query: must be a JSON object of property -> {operator: value}")
    return parsed


def query_to_cql2(
    query: dict[str, Any], arrays: frozenset[str] = frozenset()
) -> dict[str, Any] | None:
    """The CQL2-JSON equivalent of a ``query`` (None when it has no condition); ``arrays``
    names the array-valued properties."""
    conditions: list[dict[str, Any]] = []
    for prop, ops in query.items():
        if not isinstance(ops, dict):
            raise InvalidQuery(f"query: {prop!r} must map operators to values, e.g. {{'eq': 1}}")
        for op, value in ops.items():
            conditions.append(_condition(prop, str(op), value, arrays))
    if not conditions:
        return None
    if len(conditions) == 1:
        return conditions[0]
    return {"op": "and", "args": conditions}

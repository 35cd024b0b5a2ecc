"""Search parameters of mosaics, point queries and AOI statistics, checked against the limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import Query

from catalog.cql2 import DEFAULT_LIMITS, FilterLimits, FilterTooComplex, cql2_json
from catalog.properties import CLOUD_COVER, class_share_properties
from tiler.errors import BadRequest

SORTABLE = {"datetime", "id", CLOUD_COVER, *class_share_properties().values()}
"""Properties a mosaic or a query may be ordered by."""
NEWEST_FIRST = [{"field": "datetime", "direction": "desc"}]
ORDERS = {
    "newest": NEWEST_FIRST,
    "least-cloudy": [
        {"field": "eo:cloud_cover", "direction": "asc"},
        {"field": "datetime", "direction": "desc"},
    ],
}
"""Named orders, shortcuts for ``sortby``."""


def _instant(text: str, end: bool) -> datetime:
    """An RFC 3339 instant, or a date (its first or, as an end, its last second), in UTC."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(f"datetime {text!r} is not an RFC 3339 date-time or a date") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stamp(value: datetime) -> str:
    return value.isoformat(timespec="seconds" if not value.microsecond else "microseconds")


def parse_datetime(text: str | None, max_days: int, required: bool) -> str | None:
    """``datetime`` as a closed interval ``start/end`` in UTC, at most ``max_days`` long.

    A single date stands for that whole day; a single instant for itself. Open intervals
    (``..``) are refused: they would make a request's cost unbounded.
    """
    if not text:
        if required:
            raise BadRequest(f"datetime is required: give start/end, at most {max_days} days")
        return None
    parts = text.split("/")
    if len(parts) > 2:
        raise BadRequest(f"datetime {text!r} has more than two parts")
    if any(p in ("", "..") for p in parts):
        raise BadRequest(
            f"datetime {text!r} is open; give a closed range of at most {max_days} days"
        )
    start = _instant(parts[0], end=False)
    end = _instant(parts[-1], end=True) if len(parts) == 2 or len(parts[0]) == 10 else start
    if end < start:
        raise BadRequest(f"datetime {text!r} ends before it starts")
    if end - start > timedelta(days=max_days):
        raise BadRequest(f"datetime {text!r} is longer than {max_days} days")
    return f"{_stamp(start)}/{_stamp(end)}"


def parse_bbox(text: str | None) -> list[float] | None:
    """``bbox`` as four WGS84 numbers (west, south, east, north)."""
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise BadRequest(f"bbox {text!r} is not four comma-separated numbers") from exc
    if len(values) != 4:
        raise BadRequest(f"bbox {text!r} is not four comma-separated numbers")
    west, south, east, north = values
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise BadRequest(f"bbox {text!r} is not west,south,east,north within -180,-90,180,90")
    return values


def parse_filter(
    text: str | dict[str, Any] | None, lang: str, limits: FilterLimits = DEFAULT_LIMITS
) -> dict[str, Any] | None:
    """A CQL2 filter (text or JSON) as CQL2 JSON, refused if over the ``limits``."""
    if text is None or text == "":
        return None
    try:
        result = cql2_json(text, lang, limits)
    except FilterTooComplex as exc:
        raise BadRequest(str(exc)) from exc
    except Exception as exc:  # cql2 raises bare Exception for parse errors
        message = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise BadRequest(f"filter is not valid {lang}: {message}") from exc
    return result


def parse_sortby(text: str | None, order: str | None = None) -> list[dict[str, str]]:
    """``sortby`` (``-datetime``, ``eo:cloud_cover,-datetime``) or a named ``order``."""
    if text and order:
        raise BadRequest("give sortby or order, not both")
    if order:
        if order not in ORDERS:
            raise BadRequest(f"order {order!r} is not one of {', '.join(ORDERS)}")
        return ORDERS[order]
    if not text:
        return NEWEST_FIRST
    sort = []
    for part in text.split(","):
        part = part.strip()
        direction = "desc" if part.startswith("-") else "asc"
        name = part.lstrip("+-").removeprefix("properties.")
        if name not in SORTABLE:
            raise BadRequest(f"cannot sort by {name!r}; sortable: {', '.join(sorted(SORTABLE))}")
        sort.append({"field": name, "direction": direction})
    return sort


def count_vertices(geometry: dict[str, Any]) -> int:
    """Number of positions in a GeoJSON geometry (all rings and parts)."""

    def count(coords: Any) -> int:
        if not isinstance(coords, (list, tuple)):
            return 0
        if coords and isinstance(coords[0], (int, float)):
            return 1
        return sum(count(c) for c in coords)

    if geometry.get("type") == "GeometryCollection":
        return sum(count_vertices(g) for g in geometry.get("geometries") or [])
    return count(geometry.get("coordinates"))


@dataclass
class SearchQuery:
    """What to mosaic or query: date range, bbox, CQL2 filter and order (query parameters)."""

    datetime: Annotated[
        str | None,
        Query(
            description="Date, instant or closed interval (`2023-06-01`, "
            "`2023-06-01/2023-06-30`), at most the configured number of days.",
        ),
    ] = None
    bbox: Annotated[
        str | None, Query(description="Only items intersecting west,south,east,north (WGS84).")
    ] = None
    filter: Annotated[
        str | None,
        Query(description="CQL2 filter on item properties, e.g. `eo:cloud_cover<30`."),
    ] = None
    filter_lang: Annotated[Literal["cql2-text", "cql2-json"], Query(alias="filter-lang")] = (
        "cql2-text"
    )
    sortby: Annotated[
        str | None,
        Query(
            description="Order: `-datetime` (newest first, default), `eo:cloud_cover,-datetime`."
        ),
    ] = None
    order: Annotated[
        Literal["newest", "least-cloudy"] | None,
        Query(description="Named order, instead of sortby."),
    ] = None

    def to_search(
        self,
        collection_id: str,
        max_days: int,
        datetime_required: bool = False,
        limits: FilterLimits = DEFAULT_LIMITS,
    ) -> dict[str, Any]:
        """The pgstac search body for one collection."""
        search: dict[str, Any] = {
            "collections": [collection_id],
            "sortby": parse_sortby(self.sortby, self.order),
        }
        when = parse_datetime(self.datetime, max_days, datetime_required)
        if when:
            search["datetime"] = when
        if (bbox := parse_bbox(self.bbox)) is not None:
            search["bbox"] = bbox
        if (cql := parse_filter(self.filter, self.filter_lang, limits)) is not None:
            search["filter"] = cql
            search["filter-lang"] = "cql2-json"
        return search

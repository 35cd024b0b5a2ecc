"""The aggregations the catalogue offers (STAC API Aggregation Extension) and what they count.

One home for the names clients pass in ``aggregations``: the STAC API computes them
(``catalog_api.aggregate``), the README and the ``/aggregations`` listing describe them. The
class-share frequencies come from the legend, one per class with a share property
(``kappacat:<class>_percentage``), so a new class needs no change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from catalog.legend import LEGEND_BY_VALUE
from catalog.properties import CLOUD_COVER, class_share_properties


class Kind(StrEnum):
    """How an aggregation groups the matched items."""

    COUNT = "count"
    """One value: how many items match."""
    DATETIME_MIN = "datetime_min"
    """One value: the earliest ``datetime``."""
    DATETIME_MAX = "datetime_max"
    """One value: the latest ``datetime``."""
    DATETIME = "datetime"
    """Buckets of ``datetime`` by calendar interval (UTC): day, month or year."""
    PERCENT = "percent"
    """Buckets of a percentage property, ``PERCENT_WIDTH`` wide, the last one open."""
    TERMS = "terms"
    """One bucket per value of a property (most frequent first)."""


@dataclass(frozen=True)
class AggregationSpec:
    """One named aggregation: what it groups by, and how it is described to clients."""

    name: str
    kind: Kind
    description: str
    field: str | None = None
    """The item property it reads (``properties.<field>``), or the items column (``column``)."""
    column: bool = False
    """``field`` is a column of pgstac's items table (``collection``), not a property."""

    @property
    def data_type(self) -> str:
        """The aggregation's ``data_type`` in the extension's vocabulary."""
        if self.kind is Kind.COUNT:
            return "integer"
        if self.kind in (Kind.DATETIME_MIN, Kind.DATETIME_MAX):
            return "datetime"
        return "frequency_distribution"

    @property
    def bucket_data_type(self) -> str | None:
        """The type of a bucket's key (``frequency_distribution_data_type``), if it has buckets."""
        return {Kind.DATETIME: "datetime", Kind.PERCENT: "numeric", Kind.TERMS: "string"}.get(
            self.kind
        )


PERCENT_WIDTH = 10
"""Width, in percentage points, of the buckets of a percentage frequency."""
PERCENT_BUCKETS = 10
"""Buckets of a percentage frequency: 0-10, 10-20, ... 80-90, and 90 and above (100 included)."""
DATETIME_INTERVALS = ("day", "month", "year")
"""Calendar intervals of ``datetime_frequency`` (``datetime_frequency_interval``)."""
DEFAULT_DATETIME_INTERVAL = "month"


def class_share_aggregation(property_name: str) -> str:
    """The aggregation of a class share, e.g. ``clear_percentage_frequency``."""
    return f"{property_name.removeprefix('kappacat:')}_frequency"


def _aggregations() -> tuple[AggregationSpec, ...]:
    shares = [
        AggregationSpec(
            class_share_aggregation(prop),
            Kind.PERCENT,
            f"Items by their share of {LEGEND_BY_VALUE[value].title.lower()} pixels ({prop}), "
            f"in buckets {PERCENT_WIDTH} percentage points wide",
            prop,
        )
        for value, prop in class_share_properties().items()
    ]
    return (
        AggregationSpec("total_count", Kind.COUNT, "The number of matching items"),
        AggregationSpec("datetime_min", Kind.DATETIME_MIN, "The earliest datetime of the items"),
        AggregationSpec("datetime_max", Kind.DATETIME_MAX, "The latest datetime of the items"),
        AggregationSpec(
            "datetime_frequency",
            Kind.DATETIME,
            "Items by datetime (UTC), per day, month (default) or year: "
            "datetime_frequency_interval",
        ),
        AggregationSpec(
            "collection_frequency", Kind.TERMS, "Items per collection", "collection", column=True
        ),
        AggregationSpec("platform_frequency", Kind.TERMS, "Items per satellite", "platform"),
        AggregationSpec("grid_code_frequency", Kind.TERMS, "Items per MGRS tile", "grid:code"),
        AggregationSpec(
            "cloud_cover_frequency",
            Kind.PERCENT,
            f"Items by cloud cover ({CLOUD_COVER}), in buckets {PERCENT_WIDTH} percentage "
            "points wide",
            CLOUD_COVER,
        ),
        *shares,
    )


AGGREGATIONS: dict[str, AggregationSpec] = {a.name: a for a in _aggregations()}
"""Every aggregation the catalogue offers, by name, in the order they are listed."""

"""Aggregations computed in one SQL statement over the items a search matches.

The matched set is pgstac's own: the WHERE clause comes from pgstac's
``stac_search_to_where(jsonb)``, the function ``search()`` builds its query with, given the
same search JSON. Every requested aggregation is one grouping set of a single
``GROUP BY GROUPING SETS`` over those items, so the table is read once whatever is asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from asyncpg import Connection

from catalog.aggregations import PERCENT_BUCKETS, PERCENT_WIDTH, AggregationSpec, Kind

MAX_BUCKETS = 10_000
"""Buckets answered per aggregation; the items of the rest are counted in ``overflow``."""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _property(name: str) -> str:
    return f"content->'properties'->{_literal(name)}"


def key_expression(spec: AggregationSpec, interval: str) -> str:
    """The SQL expression of an item's bucket for ``spec`` (NULL: in no bucket)."""
    if spec.kind is Kind.DATETIME:
        return f"date_trunc({_literal(interval)}, datetime, 'UTC')"
    assert spec.field is not None, spec.name
    if spec.kind is Kind.TERMS:
        return spec.field if spec.column else f"content->'properties'->>{_literal(spec.field)}"
    if spec.kind is Kind.PERCENT:
        value = _property(spec.field)
        number = f"({value})::float8"
        return (
            f"CASE WHEN jsonb_typeof({value}) = 'number' AND {number} >= 0 "
            f"THEN least(floor({number} / {PERCENT_WIDTH}), {PERCENT_BUCKETS - 1})::int END"
        )
    raise ValueError(f"{spec.name} has no buckets")


def aggregate_query(where: str, bucketed: Sequence[AggregationSpec], interval: str) -> str:
    """One statement answering ``bucketed`` (one grouping set each) and the totals (``()``).

    Rows: ``g`` (the GROUPING bitmask: which set a row belongs to), ``k0``... (the keys),
    ``n`` (items), ``dmin`` and ``dmax`` (their earliest and latest datetime).
    """
    keys = [f"k{i}" for i in range(len(bucketed))]
    inner = ", ".join(
        ["datetime"]
        + [f"{key_expression(s, interval)} AS {k}" for s, k in zip(bucketed, keys, strict=True)]
    )
    grouping = f"GROUPING({', '.join(keys)})" if keys else "0"
    sets = ", ".join(["()", *(f"({k})" for k in keys)])
    columns = "".join(f", {k}" for k in keys)
    return (
        f"SELECT {grouping} AS g{columns}, count(*) AS n, min(datetime) AS dmin, "
        f"max(datetime) AS dmax FROM (SELECT {inner} FROM items WHERE {where}) AS matched "
        f"GROUP BY GROUPING SETS ({sets})"
    )


def rfc3339(value: datetime) -> str:
    """A timestamp as RFC 3339 in UTC (``2023-06-01T10:30:00Z``)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Groups:
    """The rows of one grouping set: bucket key -> items, and items in no bucket."""

    counts: dict[Any, int]
    missing: int = 0


def _percent_buckets(groups: _Groups) -> list[dict[str, Any]]:
    buckets = []
    for index in range(PERCENT_BUCKETS):
        low = index * PERCENT_WIDTH
        last = index == PERCENT_BUCKETS - 1
        high = None if last else low + PERCENT_WIDTH
        buckets.append(
            {
                "key": f"{low:.1f}-*" if high is None else f"{low:.1f}-{high:.1f}",
                "data_type": "numeric",
                "frequency": groups.counts.get(index, 0),
                "from": low,
                "to": high,
            }
        )
    return buckets


def _shape(spec: AggregationSpec, groups: _Groups, interval: str) -> dict[str, Any]:
    overflow = groups.missing
    if spec.kind is Kind.PERCENT:
        buckets = _percent_buckets(groups)
    elif spec.kind is Kind.DATETIME:
        buckets = [
            {"key": rfc3339(key), "data_type": f"interval_{interval}", "frequency": n}
            for key, n in sorted(groups.counts.items())
        ]
    else:
        ordered = sorted(groups.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        overflow += sum(n for _, n in ordered[MAX_BUCKETS:])
        buckets = [
            {"key": key, "data_type": "string", "frequency": n} for key, n in ordered[:MAX_BUCKETS]
        ]
    return {
        "name": spec.name,
        "data_type": spec.data_type,
        "buckets": buckets,
        "overflow": overflow,
    }


async def aggregate(
    conn: Connection,
    search: dict[str, Any],
    specs: Sequence[AggregationSpec],
    interval: str,
) -> list[dict[str, Any]]:
    """The aggregations ``specs`` of the items ``search`` (pgstac search JSON) matches."""
    where = await conn.fetchval(
        "SELECT stac_search_to_where($1::text::jsonb)", orjson.dumps(search).decode()
    )
    bucketed = [s for s in specs if s.bucket_data_type is not None]
    rows = await conn.fetch(aggregate_query(where, bucketed, interval))
    everything = (1 << len(bucketed)) - 1
    total, dmin, dmax = 0, None, None
    groups = [_Groups({}) for _ in bucketed]
    for row in rows:
        if row["g"] == everything:
            total, dmin, dmax = row["n"], row["dmin"], row["dmax"]
            continue
        index = next(i for i in range(len(bucketed)) if not row["g"] >> (len(bucketed) - 1 - i) & 1)
        key = row[f"k{index}"]
        if key is None:
            groups[index].missing += row["n"]
        else:
            groups[index].counts[key] = row["n"]
    shaped = {s.name: _shape(s, g, interval) for s, g in zip(bucketed, groups, strict=True)}
    answers = []
    for spec in specs:
        if spec.kind is Kind.COUNT:
            answers.append({"name": spec.name, "data_type": spec.data_type, "value": total})
        elif spec.kind in (Kind.DATETIME_MIN, Kind.DATETIME_MAX):
            value = dmin if spec.kind is Kind.DATETIME_MIN else dmax
            answers.append(
                {
                    "name": spec.name,
                    "data_type": spec.data_type,
                    "value": rfc3339(value) if value is not None else None,
                }
            )
        else:
            answers.append(shaped[spec.name])
    return answers

"""The queryable properties of the mask items, registered in pgstac.

pgstac reads a property in a filter, a ``query`` or a ``sortby`` through the queryable's type:
``eo:cloud_cover`` is compared as a number only once it is registered as one (unregistered, a
comparison with ``"30"`` would be a text comparison). Registering them also makes
``/queryables`` describe them, which is how clients learn what they can filter on.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from catalog.collections import COLLECTION_FOR_LEVEL
from catalog.legend import LEGEND_BY_VALUE
from catalog.properties import CLOUD_COVER, SEMI_TRANSPARENT_RULE, class_share_properties

# Filtered on by nearly every search: worth a B-tree index on every items partition.
INDEXED = (CLOUD_COVER,)


def _percentage(title: str, description: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "type": "number",
        "minimum": 0,
        "maximum": 100,
    }


def queryable_properties() -> dict[str, dict[str, Any]]:
    """Name -> JSON Schema of every queryable item property (besides id, datetime, geometry)."""
    props: dict[str, dict[str, Any]] = {
        CLOUD_COVER: _percentage(
            "Cloud cover", "Cloud and semi-transparent cloud share of the valid pixels (%)"
        ),
        "platform": {
            "title": "Platform",
            "description": "Satellite of the source product",
            "type": "string",
            "enum": ["sentinel-2a", "sentinel-2b", "sentinel-2c"],
        },
        "constellation": {"title": "Constellation", "type": "string"},
        "grid:code": {
            "title": "MGRS tile",
            "description": "Grid cell of the source product, e.g. MGRS-32UPU",
            "type": "string",
        },
        "mgrs:utm_zone": {"title": "UTM zone", "type": "integer", "minimum": 1, "maximum": 60},
        "mgrs:latitude_band": {"title": "MGRS latitude band", "type": "string"},
        "mgrs:grid_square": {"title": "MGRS grid square", "type": "string"},
        "sat:relative_orbit": {
            "title": "Relative orbit",
            "type": "integer",
            "minimum": 1,
            "maximum": 143,
        },
        "s2:processing_baseline": {
            "title": "Processing baseline",
            "description": "Processing baseline of the source product, e.g. 05.09",
            "type": "string",
        },
        "s2:product_type": {"title": "Source product type", "type": "string"},
        "view:sun_azimuth": {"title": "Sun azimuth", "type": "number"},
        "view:sun_elevation": {"title": "Sun elevation", "type": "number"},
        "processing:level": {"title": "Processing level", "type": "string"},
        "processing:datetime": {
            "title": "Processed at",
            "type": "string",
            "format": "date-time",
        },
        "kappacat:model": {
            "title": "Model",
            "description": "Model card that made the mask",
            "type": "string",
        },
        SEMI_TRANSPARENT_RULE: {
            "title": "Semi-transparent cloud from",
            "description": (
                "What made the item's semi-transparent cloud (class 3): the model itself "
                "(model), thin-cirrus evidence (b10-thin-cirrus from an L1C product's B10, "
                "scl-thin-cirrus from an L2A product's scene classification) or nothing (none)"
            ),
            "type": "string",
        },
        "kappacat:source_level": {
            "title": "Source level",
            "type": "string",
            "enum": sorted(COLLECTION_FOR_LEVEL),
        },
    }
    for value, name in class_share_properties().items():
        legend_class = LEGEND_BY_VALUE[value]
        props[name] = _percentage(
            f"{legend_class.title} share", f"{legend_class.description} (% of the pixels)"
        )
    return props


def upsert_queryables(dsn: str) -> list[str]:
    """Register the queryables for every collection; returns the names added or changed.

    Idempotent: a queryable already stored as wanted is left alone, so running it again (as
    ``kappacat migrate`` does) neither rewrites rows nor rebuilds the ``eo:cloud_cover`` index.
    """
    wanted = queryable_properties()
    with psycopg.connect(dsn, autocommit=True) as conn:
        stored = {
            str(name): (definition, index_type)
            for name, definition, index_type in conn.execute(
                "SELECT name, definition, property_index_type FROM pgstac.queryables "
                "WHERE collection_ids IS NULL AND name = ANY(%s)",
                (list(wanted),),
            )
        }
        changed = []
        for name, definition in wanted.items():
            index_type = "BTREE" if name in INDEXED else None
            if stored.get(name) == (definition, index_type):
                continue
            conn.execute(
                "SELECT pgstac.upsert_queryable(%s, %s, NULL, %s, NULL)",
                (name, Jsonb(definition), index_type),
            )
            changed.append(name)
    return changed

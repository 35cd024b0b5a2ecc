"""The fields extension, applied to the items the search returns.

pgstac 0.10 applies ``fields`` itself but always keeps some keys and ignores some excludes, so
the API asks pgstac for whole items and selects the fields here, after the links are made.
The semantics (https://github.com/stac-api-extensions/fields, "Include/Exclude Semantics"):

1. ``fields`` given but empty (``{}``, both null or empty; ``?fields=``): the default set
   ``type, stac_version, id, collection, geometry, bbox, links, assets`` and the datetime
   properties, so that the result is a valid item.
2. ``include`` given: only those fields, besides the few that identify an item (``type``,
   ``stac_version``, ``id``, ``collection``: "implementations may return attributes not
   specified, e.g. id, but must avoid anything other than a minimal entity representation").
3. Only ``exclude`` given, ``include`` absent: the whole item without the excluded fields.
4. ``exclude`` given with ``include`` explicitly null or empty: the default set without them.
5. A field in both ``include`` and ``exclude``, or an ``exclude`` of a parent of an included
   field (``-properties,+properties.eo:cloud_cover``): the included field stays.

A name that is not a top-level key of an item is read as a property (``eo:cloud_cover`` is
``properties.eo:cloud_cover``), as the extension allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from catalog_api.errors import InvalidFields

TOP_LEVEL = frozenset(
    {
        "type",
        "stac_version",
        "stac_extensions",
        "id",
        "geometry",
        "bbox",
        "properties",
        "links",
        "assets",
        "collection",
    }
)
IDENTITY = ("type", "stac_version", "id", "collection")
DEFAULT = (
    *IDENTITY,
    "geometry",
    "bbox",
    "links",
    "assets",
    "properties.datetime",
    "properties.start_datetime",
    "properties.end_datetime",
)


def normalize(name: str) -> str:
    """``eo:cloud_cover`` -> ``properties.eo:cloud_cover``; top-level names stay."""
    name = name.strip()
    if not name:
        raise InvalidFields("fields: empty field name")
    if name.split(".", 1)[0] in TOP_LEVEL:
        return name
    return f"properties.{name}"


def _normalize_all(names: Iterable[str] | None) -> frozenset[str] | None:
    if names is None:
        return None
    return frozenset(normalize(n) for n in names)


@dataclass(frozen=True)
class FieldsSpec:
    """What to keep of each item; ``include`` is None when the request did not give one."""

    include: frozenset[str] | None
    exclude: frozenset[str]

    @classmethod
    def from_get(cls, values: Iterable[str]) -> FieldsSpec:
        """From ``?fields=a,+b,-c``: a bare or ``+`` name is included, ``-`` excluded."""
        include: set[str] = set()
        exclude: set[str] = set()
        for raw in values:
            value = raw.strip()
            if not value:
                continue
            if value.startswith("-"):
                exclude.add(normalize(value[1:]))
            else:
                include.add(normalize(value[1:] if value.startswith("+") else value))
        if not include and not exclude:
            return cls(include=frozenset(), exclude=frozenset())
        return cls(include=frozenset(include) or None, exclude=frozenset(exclude))

    @classmethod
    def from_post(cls, fields: Mapping[str, Any]) -> FieldsSpec:
        """From the POST ``fields`` object as sent (``include`` missing differs from null)."""
        include = _normalize_all(fields.get("include"))
        if include is None and "include" in fields:
            include = frozenset()  # given as null: rule 4, not rule 3
        return cls(include=include, exclude=_normalize_all(fields.get("exclude")) or frozenset())

    def apply(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item with only the selected fields (reuses, and may change, ``item``'s parts)."""
        include = self.include
        if include:
            kept = _pick(item, {*IDENTITY, *include})
        elif include is None and self.exclude:
            kept = item
        else:
            kept = _pick(item, set(DEFAULT))
        for path in self.exclude:
            if include and any(i == path or i.startswith(path + ".") for i in include):
                continue
            _drop(kept, path)
        return kept


def _pick(item: Mapping[str, Any], paths: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in sorted(paths, key=lambda p: p.count(".")):
        parts = path.split(".")
        source: Any = item
        for part in parts:
            if not isinstance(source, Mapping) or part not in source:
                break
            source = source[part]
        else:
            target = out
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            # A shorter path picked first holds this one already.
            target.setdefault(parts[-1], source)
    return {key: out[key] for key in item if key in out}  # in the item's own order


def _drop(item: dict[str, Any], path: str) -> None:
    parts = path.split(".")
    target: Any = item
    for part in parts[:-1]:
        target = target.get(part) if isinstance(target, dict) else None
        if target is None:
            return
    if isinstance(target, dict):
        target.pop(parts[-1], None)

"""The one door into pgstac: collections and items upserted, every item checked first.

:func:`publish_items` loads many items with pypgstac (``kappacat publish``);
:func:`publish_item` upserts one item in the caller's transaction (the pipeline's publish
stage, which commits it together with the job's success); both check items the same way.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods

from catalog.db import pgstac_db
from catalog.stac_validation import StacValidator
from ingest.errors import PublishError


@dataclass
class PublishReport:
    """What a publish run did, per collection."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Items written."""
        return sum(self.created.values()) + sum(self.updated.values())

    def lines(self) -> list[str]:
        """One human line per collection."""
        names = sorted(set(self.created) | set(self.updated))
        return [
            f"{name}: {self.created[name]} created, {self.updated[name]} updated" for name in names
        ]


def read_stac_file(path: Path) -> list[dict[str, Any]]:
    """The items in a STAC item, item collection (FeatureCollection) or ndjson file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PublishError(f"{path}: cannot read the file: {exc}") from exc
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError as whole_err:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) < 2:
            raise PublishError(f"{path}: not JSON: {whole_err}") from whole_err
        docs = []
        for number, line in enumerate(lines, start=1):
            try:
                docs.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise PublishError(f"{path}: line {number} is not JSON: {exc}") from exc
    items: list[dict[str, Any]] = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
            items.extend(doc.get("features") or [])
        else:
            items.append(doc)
    if not items:
        raise PublishError(f"{path}: holds no STAC items")
    return items


def check_items(
    items: Sequence[Any],
    where: str,
    validator: StacValidator,
    collections: set[str],
) -> None:
    """Refuse anything that is not a valid STAC item of a known collection."""
    seen: set[tuple[str, str]] = set()
    for n, item in enumerate(items, start=1):
        label = f"{where}: item {n}"
        if not isinstance(item, dict) or item.get("type") != "Feature":
            raise PublishError(f'{label} is not a STAC item (no "type": "Feature")')
        if "stac_version" not in item or not item.get("id"):
            raise PublishError(f"{label} is not a STAC item (it lacks stac_version or id)")
        label = f"{where}: item {item['id']!r}"
        collection = item.get("collection")
        if collection not in collections:
            known = ", ".join(sorted(collections)) or "none"
            raise PublishError(f"{label}: unknown collection {collection!r} (known: {known})")
        key = (collection, item["id"])
        if key in seen:
            raise PublishError(f"{label}: appears twice in the same input")
        seen.add(key)
        problems = validator.errors(item)
        if problems:
            raise PublishError(f"{label} is not valid STAC: " + "; ".join(problems[:3]))


def publish_item(
    conn: psycopg.Connection[Any], item: dict[str, Any], validator: StacValidator
) -> None:
    """Check one item and upsert it in the caller's transaction (nothing commits here)."""
    known = conn.execute(
        "SELECT id FROM pgstac.collections WHERE id = %s", (item.get("collection"),)
    ).fetchall()
    check_items([item], "publish", validator, {str(row[0]) for row in known})
    conn.execute("SELECT pgstac.upsert_item(%s)", (Jsonb(item),))


def is_published(conn: psycopg.Connection[Any], collection: str, item_id: str, model: str) -> bool:
    """Whether the catalogue holds the item, made by ``model``."""
    row = conn.execute(
        "SELECT 1 FROM pgstac.items WHERE collection = %s AND id = %s"
        " AND content->'properties'->>'kappacat:model' = %s",
        (collection, item_id, model),
    ).fetchone()
    return row is not None


def _collections(db: PgstacDB) -> set[str]:
    return {str(row[0]) for row in db.query("SELECT id FROM pgstac.collections")}


def _existing(db: PgstacDB, items: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    keys = [(i["collection"], i["id"]) for i in items]
    if not keys:
        return set()
    rows = db.query(
        "SELECT collection, id FROM pgstac.items WHERE (collection, id) IN "
        "(SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([k[0] for k in keys], [k[1] for k in keys]),
    )
    return {(str(r[0]), str(r[1])) for r in rows}


def publish_items(
    dsn: str, items_by_source: dict[str, list[dict[str, Any]]], validator: StacValidator
) -> PublishReport:
    """Check every item of every source, then upsert them all; nothing is loaded if one is bad."""
    report = PublishReport()
    with pgstac_db(dsn) as db:
        known = _collections(db)
        for where, items in items_by_source.items():
            check_items(items, where, validator, known)
        everything = [i for items in items_by_source.values() for i in items]
        duplicates = [
            k for k, n in Counter((i["collection"], i["id"]) for i in everything).items() if n > 1
        ]
        if duplicates:
            raise PublishError(f"item {duplicates[0][1]!r} is given more than once")
        existing = _existing(db, everything)
        Loader(db=db).load_items(iter(everything), insert_mode=Methods.upsert)
    for item in everything:
        key = (item["collection"], item["id"])
        (report.updated if key in existing else report.created)[key[0]] += 1
    return report


def publish_files(dsn: str, paths: Sequence[Path], validator: StacValidator) -> PublishReport:
    """Publish STAC files (item, item collection or ndjson); all are read and checked first."""
    return publish_items(dsn, {str(p): read_stac_file(p) for p in paths}, validator)


def upsert_collections(dsn: str, collections: Sequence[dict[str, Any]]) -> None:
    """Create or update collections."""
    with pgstac_db(dsn) as db:
        Loader(db=db).load_collections(iter(collections), insert_mode=Methods.upsert)

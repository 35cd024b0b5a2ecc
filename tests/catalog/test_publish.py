"""``kappacat publish``: upserts, reports what it did, and refuses bad input whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest

from catalog.settings import DatabaseSettings
from tests.factories import mask_item


def publish(database: DatabaseSettings, stac_schemas: Path, *files: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "kappacat", "publish", *map(str, files)],
        env={
            **os.environ,
            "KAPPACAT_DATABASE_URL": database.url,
            "KAPPACAT_STAC_SCHEMAS_DIR": str(stac_schemas),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def item_count(database: DatabaseSettings) -> dict[str, int]:
    with psycopg.connect(database.url) as conn:
        rows = conn.execute("SELECT collection, count(*) FROM pgstac.items GROUP BY 1").fetchall()
    return {str(c): int(n) for c, n in rows}


@pytest.fixture
def items(mask_cog: tuple[Path, np.ndarray]) -> list[dict[str, object]]:
    cog, data = mask_cog
    return [mask_item(cog, data, i) for i in range(3)] + [mask_item(cog, data, 10, level="L2A")]


def test_publish_item_collection_and_ndjson_then_again(
    database: DatabaseSettings,
    stac_schemas: Path,
    tmp_path: Path,
    items: list[dict[str, object]],
) -> None:
    single = tmp_path / "one.json"
    single.write_text(json.dumps(items[0]))
    collection = tmp_path / "fc.json"
    collection.write_text(json.dumps({"type": "FeatureCollection", "features": items[1:3]}))
    ndjson = tmp_path / "more.ndjson"
    ndjson.write_text("\n".join(json.dumps(i) for i in items[3:]) + "\n")

    code, out = publish(database, stac_schemas, single, collection, ndjson)
    assert code == 0, out
    assert "sentinel-2-l1c-kappamask: 3 created, 0 updated" in out
    assert "sentinel-2-l2a-kappamask: 1 created, 0 updated" in out
    assert item_count(database) == {"sentinel-2-l1c-kappamask": 3, "sentinel-2-l2a-kappamask": 1}

    # Again, with a changed item: updated in place, nothing twice.
    changed = dict(items[0])
    changed["properties"] = {**items[0]["properties"], "eo:cloud_cover": 99.5}  # type: ignore[dict-item]
    single.write_text(json.dumps(changed))
    code, out = publish(database, stac_schemas, single, collection)
    assert code == 0, out
    assert "sentinel-2-l1c-kappamask: 0 created, 3 updated" in out
    assert item_count(database)["sentinel-2-l1c-kappamask"] == 3
    with psycopg.connect(database.url) as conn:
        row = conn.execute(
            "SELECT content->'properties'->>'eo:cloud_cover' FROM pgstac.items WHERE id = %s",
            (changed["id"],),
        ).fetchone()
    assert row is not None and float(row[0]) == 99.5


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"type": "Collection", "id": "x"}), "is not a STAC item"),
        ("UNKNOWN_COLLECTION", "unknown collection 'sentinel-3-olci'"),
        ("NO_DATETIME", "is not valid STAC"),
        ("BAD_EXTENSION_FIELD", "is not valid STAC"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_loaded(
    database: DatabaseSettings,
    stac_schemas: Path,
    tmp_path: Path,
    items: list[dict[str, object]],
    content: str,
    reason: str,
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(items[0]))
    bad_item = json.loads(json.dumps(items[1]))
    if content == "UNKNOWN_COLLECTION":
        bad_item["collection"] = "sentinel-3-olci"
        content = json.dumps(bad_item)
    elif content == "NO_DATETIME":
        del bad_item["properties"]["datetime"]
        content = json.dumps(bad_item)
    elif content == "BAD_EXTENSION_FIELD":
        bad_item["properties"]["eo:cloud_cover"] = "cloudy"
        content = json.dumps(bad_item)
    bad = tmp_path / "bad.json"
    bad.write_text(content)

    code, out = publish(database, stac_schemas, good, bad)
    assert code == 1
    assert str(bad) in out
    assert reason in out
    assert "nothing was published" in out
    assert item_count(database) == {}

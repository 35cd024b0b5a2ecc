"""``kappacat migrate``: from nothing, again, and from two processes at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg

from catalog.settings import DatabaseSettings
from catalog.stac_validation import StacValidator
from ingest.publish import publish_items
from kappacat.migrate import migrate
from migrations import PGSTAC_VERSION
from tests.factories import mask_item


def schema_fingerprint(url: str) -> dict[str, object]:
    """What a migration creates: tables, functions, roles' memberships, versions, collections."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('pgstac', 'kappacat') ORDER BY 1"
        ).fetchall()
        functions = conn.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname IN ('pgstac', 'kappacat')"
        ).fetchone()
        versions = conn.execute(
            "SELECT version, name FROM kappacat.migrations ORDER BY 1"
        ).fetchall()
        pgstac = conn.execute("SELECT pgstac.get_version()").fetchone()
        collections = conn.execute(
            "SELECT id, md5(content::text), partition_trunc FROM pgstac.collections ORDER BY 1"
        ).fetchall()
        queryables = conn.execute(
            "SELECT name, md5(definition::text) FROM pgstac.queryables ORDER BY 1"
        ).fetchall()
        roles = conn.execute(
            "SELECT r.rolname, g.rolname FROM pg_auth_members m "
            "JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid "
            "WHERE r.rolname LIKE 'kappacat%' ORDER BY 1, 2"
        ).fetchall()
    return {
        "tables": tables,
        "functions": functions,
        "versions": versions,
        "pgstac": pgstac,
        "collections": collections,
        "roles": roles,
        "queryables": queryables,
    }


def run_cli(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kappacat", *args],
        env={**os.environ, "KAPPACAT_DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_migrate_twice_changes_nothing(empty_database: DatabaseSettings) -> None:
    first = run_cli(empty_database.url, "migrate")
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out
    assert f"-> {PGSTAC_VERSION}" in out
    after_first = schema_fingerprint(empty_database.url)
    assert ("kappacat.migrations",) in after_first["tables"]
    assert [c[0] for c in after_first["collections"]] == [  # type: ignore[index]
        "sentinel-2-l1c-kappamask",
        "sentinel-2-l2a-kappamask",
    ]
    assert {c[2] for c in after_first["collections"]} == {"year"}  # type: ignore[index]
    assert ("kappacat_read", "pgstac_read") in after_first["roles"]  # type: ignore[operator]
    assert ("kappacat_ingest", "pgstac_ingest") in after_first["roles"]  # type: ignore[operator]

    report = migrate(empty_database)
    assert not report.changed
    assert schema_fingerprint(empty_database.url) == after_first


def test_two_processes_at_once_end_in_the_same_schema(
    empty_database: DatabaseSettings, database: DatabaseSettings
) -> None:
    procs = [run_cli(empty_database.url, "migrate") for _ in range(2)]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    # One of them did the work, the other waited on the lock and found it done.
    assert sum("schema already up to date" in out for out in outputs) == 1, outputs
    # The same schema as a database migrated alone (the test template).
    assert schema_fingerprint(empty_database.url) == schema_fingerprint(database.url)


def test_read_role_can_search_but_not_write(database: DatabaseSettings) -> None:
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("SET ROLE kappacat_read")
        assert conn.execute("SELECT count(*) FROM pgstac.collections").fetchone() == (2,)
        try:
            conn.execute("DELETE FROM pgstac.collections")
        except psycopg.errors.InsufficientPrivilege:
            pass
        else:
            raise AssertionError("the read-only role could delete collections")


def test_an_existing_catalogue_is_partitioned_by_year_and_keeps_its_items(
    database: DatabaseSettings, mask_cog: tuple[Path, np.ndarray], validator: StacValidator
) -> None:
    """A deployment from before yearly partitions: migrate moves its items, loses none."""
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("UPDATE pgstac.collections SET partition_trunc = NULL")
    cog, data = mask_cog
    items = [mask_item(cog, data, n) for n in range(6)]
    for n, item in enumerate(items):  # over three years
        item["properties"]["datetime"] = f"{2021 + n % 3}-06-0{n + 1}T10:30:00Z"
    publish_items(database.url, {"old": items}, validator)

    report = migrate(database)
    assert report.partitioned == ["sentinel-2-l1c-kappamask", "sentinel-2-l2a-kappamask"]
    with psycopg.connect(database.url) as conn:
        found = conn.execute("SELECT id FROM pgstac.items ORDER BY id").fetchall()
        partitions = conn.execute(
            "SELECT count(*) FROM pgstac.partitions_view WHERE collection = %s",
            ("sentinel-2-l1c-kappamask",),
        ).fetchone()
    assert [r[0] for r in found] == sorted(i["id"] for i in items)
    assert partitions is not None and partitions[0] == 3
    assert not migrate(database).changed


PROJECTION_V1_2 = "https://stac-extensions.github.io/projection/v1.2.0/schema.json"
PROJECTION_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"


def test_masks_published_with_proj_code_only_get_proj_epsg(
    database: DatabaseSettings, mask_cog: tuple[Path, np.ndarray], validator: StacValidator
) -> None:
    """A catalogue from before 0006 (projection v2.0.0, no ``proj:epsg``) is brought up to date."""
    cog, data = mask_cog
    old = [mask_item(cog, data, n) for n in range(3)]
    for item in old:
        del item["assets"]["mask"]["proj:epsg"]
        item["stac_extensions"] = [
            PROJECTION_V2 if e == PROJECTION_V1_2 else e for e in item["stac_extensions"]
        ]
    current = mask_item(cog, data, 5)
    publish_items(database.url, {"old": [*old, current]}, validator)
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("DELETE FROM kappacat.migrations WHERE version = 6")

    report = migrate(database)
    assert report.applied == ["0006_projection_epsg"]
    with psycopg.connect(database.url) as conn:
        rows = conn.execute(
            "SELECT pgstac.get_item(id, collection) FROM pgstac.items ORDER BY id"
        ).fetchall()
    found = {r[0]["id"]: r[0] for r in rows}
    assert set(found) == {i["id"] for i in [*old, current]}
    for item in found.values():
        mask = item["assets"]["mask"]
        assert (mask["proj:epsg"], mask["proj:code"]) == (32632, "EPSG:32632")
        assert PROJECTION_V1_2 in item["stac_extensions"]
        assert PROJECTION_V2 not in item["stac_extensions"]
        assert validator.errors(item) == []
    # the extension lists keep their order: only the projection entry changed
    assert found[old[0]["id"]]["stac_extensions"] == current["stac_extensions"]


def test_items_are_indexed_on_cloud_cover_and_mgrs_tile(
    database: DatabaseSettings, mask_cog: tuple[Path, np.ndarray], validator: StacValidator
) -> None:
    """Searches by cloud cover and by MGRS tile find their items through an index on every
    partition, not by reading each item."""
    cog, data = mask_cog
    publish_items(database.url, {"one": [mask_item(cog, data, 0)]}, validator)
    with psycopg.connect(database.url) as conn:
        indexed = {
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM pgstac.queryables WHERE property_index_type = 'BTREE'"
            )
        }
        definitions = [
            str(r[0])
            for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'pgstac'"
                " AND tablename LIKE '_items_%'"
            )
        ]
    assert {"eo:cloud_cover", "grid:code"} <= indexed
    assert any("grid:code" in d for d in definitions), definitions
    assert any("eo:cloud_cover" in d for d in definitions), definitions

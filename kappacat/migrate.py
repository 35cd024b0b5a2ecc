"""Bring a database to the current schema: pgstac, KappaCat's own SQL, roles, collections."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from pypgstac.migrate import Migrate

from catalog.collections import collection_dicts
from catalog.db import pgstac_db
from catalog.queryables import upsert_queryables
from catalog.settings import DatabaseSettings
from ingest.publish import upsert_collections
from migrations import PGSTAC_VERSION, sql_files

logger = logging.getLogger(__name__)

# Any constant works as long as every migrating process uses the same one.
MIGRATION_LOCK_ID = 0x4B415050  # "KAPP"


class MigrationError(RuntimeError):
    """The database could not be brought to the current schema."""


@dataclass
class MigrationReport:
    """What one ``kappacat migrate`` run did."""

    pgstac_before: str | None
    pgstac_after: str
    applied: list[str] = field(default_factory=list)
    roles_created: list[str] = field(default_factory=list)
    queryables_changed: list[str] = field(default_factory=list)
    partitioned: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was changed."""
        return bool(
            self.applied
            or self.roles_created
            or self.partitioned
            or self.pgstac_before != self.pgstac_after
        )


def _pgstac_version(conn: psycopg.Connection) -> str | None:
    exists = conn.execute("SELECT to_regproc('pgstac.get_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT pgstac.get_version()").fetchone()
    return str(row[0]) if row and row[0] else None


def _ensure_role(conn: psycopg.Connection, role: str, member_of: str, password: str | None) -> bool:
    """Create a login role that inherits a pgstac role; True if it was created."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    created = False
    if not exists:
        try:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            created = True
        except psycopg.errors.DuplicateObject:
            # Roles are cluster-wide: another database's migration made it meanwhile.
            pass
    if password is not None:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(member_of), sql.Identifier(role)))
    return created


def _grant(conn: psycopg.Connection, settings: DatabaseSettings) -> None:
    read, ingest = sql.Identifier(settings.read_role), sql.Identifier(settings.ingest_role)
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA kappacat TO {}, {}").format(read, ingest))
    conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA kappacat TO {}").format(read))
    conn.execute(
        sql.SQL(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA kappacat TO {}"
        ).format(ingest)
    )
    conn.execute(
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA kappacat TO {}").format(ingest)
    )


def migrate(
    settings: DatabaseSettings | None = None, *, collections: bool = True
) -> MigrationReport:
    """Migrate the database in ``settings.url``; safe to run again and from many processes.

    With ``collections`` the mask collections and their queryables are created or updated too.
    """
    settings = settings or DatabaseSettings()
    with psycopg.connect(settings.url, autocommit=True) as lock_conn:
        # A session-level advisory lock: a second migrator waits here until the first is done,
        # then finds everything in place and changes nothing.
        lock_conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            report = _migrate_locked(lock_conn, settings)
            if collections:
                upsert_collections(settings.url, collection_dicts())
                report.queryables_changed = upsert_queryables(settings.url)
                report.partitioned = _partition_by_year(lock_conn)
            return report
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))


PARTITION_TRUNC = "year"
"""pgstac partitions the mask collections' items by year: a search for a few months over
100 000 items reads one or two small tables (p95 under 8 clients 98 ms instead of 131 with one
partition per collection, 112 with monthly ones; BENCHMARKS.md)."""


def _partition_by_year(conn: psycopg.Connection) -> list[str]:
    """Set the mask collections' partitioning; pgstac moves existing items (once)."""
    ids = [c["id"] for c in collection_dicts()]
    rows = conn.execute(
        "UPDATE pgstac.collections SET partition_trunc = %s"
        " WHERE id = ANY(%s) AND partition_trunc IS DISTINCT FROM %s RETURNING id",
        (PARTITION_TRUNC, ids, PARTITION_TRUNC),
    ).fetchall()
    return sorted(str(r[0]) for r in rows)


def _migrate_locked(conn: psycopg.Connection, settings: DatabaseSettings) -> MigrationReport:
    before = _pgstac_version(conn)
    if before != PGSTAC_VERSION:
        logger.info("migrating pgstac from %s to %s", before or "nothing", PGSTAC_VERSION)
        try:
            with pgstac_db(settings.url) as db:
                Migrate(db).run_migration(toversion=PGSTAC_VERSION)
        except Exception as exc:  # pypgstac raises bare Exception
            raise MigrationError(f"pgstac migration to {PGSTAC_VERSION} failed: {exc}") from exc
    report = MigrationReport(pgstac_before=before, pgstac_after=PGSTAC_VERSION)

    with conn.transaction():
        for role, member_of, password in (
            (settings.read_role, "pgstac_read", settings.read_password),
            (settings.ingest_role, "pgstac_ingest", settings.ingest_password),
        ):
            secret = password.get_secret_value() if password else None
            if _ensure_role(conn, role, member_of, secret):
                report.roles_created.append(role)
        conn.execute("CREATE SCHEMA IF NOT EXISTS kappacat")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS kappacat.migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM kappacat.migrations")}
        for number, name, file in sql_files():
            if number in done:
                continue
            logger.info("applying kappacat migration %04d %s", number, name)
            conn.execute(file.read_text(encoding="utf-8"))
            conn.execute(
                "INSERT INTO kappacat.migrations (version, name) VALUES (%s, %s)", (number, name)
            )
            report.applied.append(f"{number:04d}_{name}")
        _grant(conn, settings)
    return report

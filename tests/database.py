"""Fixtures for tests on a real PostgreSQL + PostGIS + pgstac database.

One template database is migrated per test session; each test that asks for ``database``
gets a fresh copy made with ``CREATE DATABASE ... TEMPLATE`` (fast) and dropped afterwards,
as pgstac's own test suite does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from catalog.settings import DatabaseSettings, with_database
from tests.pgserver import admin_url


def create_database(admin: str, name: str, template: str | None = None) -> None:
    """Create a database (optionally from a template)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(query)


def drop_database(admin: str, name: str) -> None:
    """Drop a database, disconnecting whoever is still on it."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Admin URL of the PostgreSQL server the tests use."""
    with admin_url() as url:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
        if row is None:
            pytest.fail(
                "PostGIS is not installed for this PostgreSQL server "
                "(apt-get install postgresql-<major>-postgis-3; .ci/run does it)"
            )
        yield url


@pytest.fixture(scope="session")
def template_database(pg_admin_url: str) -> Iterator[str]:
    """A database migrated by ``kappacat migrate`` (with collections), used as a template."""
    from kappacat.migrate import migrate

    name = f"kappacat_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    create_database(pg_admin_url, name)
    url = with_database(pg_admin_url, name)
    try:
        migrate(DatabaseSettings(url=url))
        yield name
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture
def database(pg_admin_url: str, template_database: str) -> Iterator[DatabaseSettings]:
    """A fresh migrated catalogue database for one test."""
    name = f"kappacat_test_{uuid.uuid4().hex[:10]}"
    create_database(pg_admin_url, name, template=template_database)
    try:
        yield DatabaseSettings(url=with_database(pg_admin_url, name))
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture
def empty_database(pg_admin_url: str) -> Iterator[DatabaseSettings]:
    """An empty database (no pgstac) for migration tests."""
    name = f"kappacat_empty_{uuid.uuid4().hex[:10]}"
    create_database(pg_admin_url, name)
    try:
        yield DatabaseSettings(url=with_database(pg_admin_url, name))
    finally:
        drop_database(pg_admin_url, name)

"""Registered searches are capped: anonymous mosaic queries cannot grow ``pgstac.searches``."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from catalog.settings import DatabaseSettings
from tests.tiler.conftest import COLLECTION, reader_settings
from tiler import TilerSettings, create_app

pytestmark = pytest.mark.integration
CAP = 10


def register(client: TestClient, day: int) -> tuple[int, str]:
    body = {"collections": [COLLECTION], "datetime": f"2023-06-{day:02d}"}
    response = client.post("/searches/register", json=body)
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json().get("id") or response.json()["detail"]


def rows(database: DatabaseSettings) -> set[str]:
    with psycopg.connect(database.url) as conn:
        return {r[0] for r in conn.execute("SELECT hash FROM pgstac.searches")}


def test_new_searches_beyond_the_cap_recycle_the_least_recently_used(database, tmp_path):
    settings = TilerSettings(
        storage_roots=[str(tmp_path)], max_registered_searches=CAP, lookup_cache_ttl=0
    )
    with TestClient(create_app(settings, reader_settings(database))) as client:
        first = [register(client, day) for day in range(1, CAP + 1)]
        assert [status for status, _ in first] == [200] * CAP
        assert len(rows(database)) == CAP

        # all of them used in the last minute: none may be recycled, so no new one for now
        status, detail = register(client, 20)
        assert status == 503
        assert "KAPPACAT_TILER_MAX_REGISTERED_SEARCHES" in detail
        assert register(client, 1) == first[0]  # a known one is still answered

        oldest = first[3][1]
        with psycopg.connect(database.url) as conn:
            conn.execute(
                "UPDATE pgstac.searches SET lastused = now() - interval '1 hour' WHERE hash = %s",
                (oldest,),
            )
        status, new = register(client, 20)
        assert status == 200
        assert rows(database) == ({h for _, h in first} - {oldest}) | {new}
        assert client.get(f"/searches/{new}/info").status_code == 200
        assert client.get(f"/searches/{oldest}/info").status_code == 404

"""Helpers for the STAC API tests: a catalogue database loaded with mask items, an app."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from starlette.testclient import TestClient

from catalog.collections import L1C
from catalog.settings import DatabaseSettings, with_database
from catalog.stac_validation import StacValidator
from catalog_api.app import create_app
from catalog_api.settings import ApiSettings
from ingest.publish import publish_items
from tests.database import create_database, drop_database
from tests.factories import mask_item

API_KEY = "test-key-7f3a"
PLACES = 20  # items are spread over this many footprints, 0.5 degrees apart in longitude
FIRST_LON = 5.0


def lon_of(index: int) -> float:
    """West edge of the footprint of item ``index`` (its latitude is 47.8 to 47.85)."""
    return FIRST_LON + (index % PLACES) * 0.5


def make_items(cog: Path, data: np.ndarray, count: int) -> list[dict[str, Any]]:
    """``count`` L1C mask items, one a day from 2023-06-01, over ``PLACES`` places."""
    return [mask_item(cog, data, i, lon=lon_of(i)) for i in range(count)]


@contextlib.contextmanager
def loaded_database(
    pg_admin_url: str,
    template_database: str,
    items: list[dict[str, Any]],
    validator: StacValidator,
) -> Iterator[DatabaseSettings]:
    """A fresh catalogue database (migrated, so with the queryables) holding ``items``."""
    name = f"kappacat_api_{uuid.uuid4().hex[:10]}"
    create_database(pg_admin_url, name, template=template_database)
    url = with_database(pg_admin_url, name)
    try:
        publish_items(url, {"test items": items}, validator)
        yield DatabaseSettings(url=url)
    finally:
        drop_database(pg_admin_url, name)


@contextlib.contextmanager
def api_client(database: DatabaseSettings, **settings: Any) -> Iterator[TestClient]:
    """The app over ``database``, started (lifespan) and ready for requests."""
    app = create_app(ApiSettings(**settings), database)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def item_datetime(item: dict[str, Any]) -> datetime:
    """An item's datetime."""
    return datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))


def l1c_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of the L1C collection."""
    return [i for i in items if i["collection"] == L1C]


def ids_of(response: Any) -> list[str]:
    """Item ids of a search response."""
    assert response.status_code == 200, response.text
    return [f["id"] for f in response.json()["features"]]


def ids_where(items: list[dict[str, Any]], test: Any) -> set[str]:
    """Ids of the items whose properties pass ``test``."""
    return {i["id"] for i in items if test(i["properties"])}

"""Real ``kappacat serve api`` and ``kappacat serve tiler`` processes over a catalogue with masks,
for the tests that attack them (hostile requests, fuzzing)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from catalog.settings import DatabaseSettings
from catalog.stac_validation import StacValidator
from tests.servers import serve_process
from tests.tiler.conftest import published_masks

API_KEY = "hostile-test-key"


@dataclass
class Services:
    """The two servers, their supervisor processes, and what they serve."""

    api: str
    tiler: str
    api_pid: int
    tiler_pid: int
    database: DatabaseSettings
    items: dict[str, dict[str, Any]]

    def item_id(self, name: str) -> str:
        """The id of a published item (a, b: good masks; outside: a mask outside the roots)."""
        return str(self.items[name]["id"])


@contextlib.contextmanager
def services(
    admin: str,
    template: str,
    base: Path,
    validator: StacValidator,
    api_env: dict[str, str] | None = None,
    tiler_env: dict[str, str] | None = None,
) -> Iterator[Services]:
    """Both servers as real processes, with their default workers, over a fresh catalogue."""
    with published_masks(admin, template, base, validator, "hostile") as data:
        database, root, items = data.database, data.root, data.items
        common = {
            "KAPPACAT_DATABASE_URL": database.url,
            "KAPPACAT_DATABASE_READ_URL": database.reader_url,
        }
        with (
            serve_process(
                "api", {**common, "KAPPACAT_API_API_KEYS": API_KEY, **(api_env or {})},
                "/_mgmt/health",
            ) as (api, api_proc),
            serve_process(
                "tiler", {**common, "KAPPACAT_TILER_STORAGE_ROOTS": str(root), **(tiler_env or {})},
                "/healthz",
            ) as (tiler, tiler_proc),
        ):  # fmt: skip
            yield Services(api, tiler, api_proc.pid, tiler_proc.pid, database, items)


@pytest.fixture(scope="session")
def hostile_validator(shared_data: Path) -> StacValidator:
    """Offline STAC validation for publishing the test items."""
    return StacValidator(shared_data / "stac-schemas")

"""Fixtures shared by every test: where the shared real data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("KAPPACAT_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real Sentinel-2 data for tests (never copied into the repository)."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"shared test data not found at {path} (set KAPPACAT_SHARED_DATA)")
    return path


pytest_plugins = ["tests.database", "tests.servers"]

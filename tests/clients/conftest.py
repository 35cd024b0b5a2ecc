"""Fixtures for the tests of third-party clients: offline STAC validation for publishing."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.stac_validation import StacValidator


@pytest.fixture(scope="session")
def validator(shared_data: Path) -> StacValidator:
    """A validator with the core and every extension schema, offline."""
    return StacValidator(shared_data / "stac-schemas")

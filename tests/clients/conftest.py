"""Fixtures for the tests of third-party clients: the tiler tests' catalogue (real mask COGs in
a real pgstac) and offline STAC validation for publishing."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.stac_validation import StacValidator
from tests.tiler.conftest import tiler_data, tiler_validator

__all__ = ["tiler_data", "tiler_validator", "validator"]


@pytest.fixture(scope="session")
def validator(shared_data: Path) -> StacValidator:
    """A validator with the core and every extension schema, offline."""
    return StacValidator(shared_data / "stac-schemas")

"""Fixtures for catalogue tests: a shared mask COG and offline STAC validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog.stac_validation import StacValidator
from tests.factories import write_mask_cog


@pytest.fixture(scope="session")
def stac_schemas(shared_data: Path) -> Path:
    """The offline STAC schema folder."""
    return shared_data / "stac-schemas"


@pytest.fixture(scope="session")
def validator(stac_schemas: Path) -> StacValidator:
    """A validator with the core and every extension schema, offline."""
    return StacValidator(stac_schemas)


@pytest.fixture(scope="session")
def mask_cog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A real mask COG with every legend class and a no-data corner, and its pixels."""
    path = tmp_path_factory.mktemp("cog") / "mask.tif"
    data = write_mask_cog(path)
    return path, data

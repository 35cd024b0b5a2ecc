"""Fixtures for the client tests: the tiler tests' catalogue (real mask COGs in a real pgstac)."""

from tests.tiler.conftest import tiler_data, tiler_validator

__all__ = ["tiler_data", "tiler_validator"]

"""Product ids and MGRS tiles name items and storage keys: the real ones pass, unsafe ones fail."""

from __future__ import annotations

import dataclasses

import pytest

from ingest.errors import BadInputError
from ingest.stages import check_names
from tests.factories import product_info

REAL_IDS = [
    "S2B_MSIL1C_20230601T103629_N0509_R008_T32UQD_20230601T112342",  # SAFE name, CDSE
    "S2A_MSIL2A_20230625T103136_N0509_R065_T32UQD_20230625T124521.SAFE",  # CDSE STAC
    "S2B_32UQD_20230601_0_L1C",  # Earth Search
    "S2A_MSIL2A_20230625T103031_R108_T32UQD_20230626T012413",  # Planetary Computer
]
UNSAFE_IDS = ["../../etc/passwd", "a/b", "..", "a\\b", "S2B id", "x\x00y", "%2e%2e", "é", ""]


@pytest.mark.parametrize("product_id", REAL_IDS)
def test_provider_ids_are_accepted(product_id: str) -> None:
    check_names(dataclasses.replace(product_info(0), id=product_id))


@pytest.mark.parametrize("product_id", UNSAFE_IDS)
def test_unsafe_ids_are_bad_input(product_id: str) -> None:
    with pytest.raises(BadInputError, match="is not allowed"):
        check_names(dataclasses.replace(product_info(0), id=product_id))


@pytest.mark.parametrize("tile", ["../32UQD", "32UQD/..", "", "32uqd", "T32UQD", "32UQD\n"])
def test_unsafe_or_malformed_tiles_are_bad_input(tile: str) -> None:
    with pytest.raises(BadInputError, match="MGRS tile"):
        check_names(dataclasses.replace(product_info(0), mgrs_tile=tile))


def test_real_tiles_are_accepted() -> None:
    for tile in ("32UQD", "1CDE", "60XWM", "46RER"):
        check_names(dataclasses.replace(product_info(0), mgrs_tile=tile))

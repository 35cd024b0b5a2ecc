"""stac-api-validator, run offline against ``kappacat serve api`` with every class we declare."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from catalog.collections import L1C
from catalog.stac_validation import StacValidator
from tests.catalog.api_support import API_KEY, loaded_database, lon_of, make_items
from tests.servers import REPO, serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFORMANCE = [
    "core",
    "collections",
    "features",
    "item-search",
    "filter",
    "item-search#sort",
    "item-search#fields",
    "item-search#query",
    "features#sort",
    "features#fields",
    "features#query",
    "transaction",
]

# Values for the validator's query-extension checks, chosen from the published items so that
# every operator has results and some items fail each condition.
QUERY_OPTIONS = {
    # sat:relative_orbit is 22 + index % 100: an integer queryable. The validator sends the values
    # as JSON strings ("30"); the API compares them as the queryable's type, a number.
    "--query-comparison-field": "sat:relative_orbit",
    "--query-eq-value": "30",
    "--query-neq-value": "30",
    "--query-lt-value": "40",
    "--query-lte-value": "40",
    "--query-gt-value": "100",
    "--query-gte-value": "100",
    "--query-substring-field": "platform",  # sentinel-2a / sentinel-2b
    "--query-starts-with-value": "sentinel",
    "--query-ends-with-value": "2b",
    "--query-contains-value": "nel-2",
    # The validator checks `in` as Earth Search answers it on an array-valued property: an item
    # matches when any of its elements is in the list (test_api.py checks `in` on strings).
    "--query-in-field": "instruments",
    "--query-in-values": "msi,olci",
}


@pytest.fixture(scope="module")
def api_url(
    pg_admin_url: str,
    template_database: str,
    mask_cog: tuple[Path, np.ndarray],
    validator: StacValidator,
) -> Iterator[str]:
    """``kappacat serve api`` with write routes, over 210 published mask items."""
    items = make_items(*mask_cog, 210)
    with loaded_database(pg_admin_url, template_database, items, validator) as database:
        env = {"KAPPACAT_DATABASE_URL": database.url, "KAPPACAT_API_API_KEYS": API_KEY}
        with serve("api", env, "/_mgmt/health") as url:
            yield url


def validator_report(output: str) -> tuple[list[str], list[str]]:
    """The warnings and errors in stac-api-validator's output."""
    assert "Failed." not in output, output[-4000:]
    section: list[str] | None = None
    warnings: list[str] = []
    errors: list[str] = []
    for line in output.splitlines():
        if line.startswith("Warnings"):
            section = warnings
        elif line.startswith("Errors"):
            section = errors
        elif line.startswith("- ") and section is not None:
            section.append(line[2:])
    assert "Errors:" in output, output[-4000:]
    return warnings, errors


def run_validator(api_url: str, stac_schemas: Path) -> str:
    """Run stac-api-validator (offline) against the API; its whole output."""
    geometry = {"type": "Point", "coordinates": [lon_of(0) + 0.03, 47.82]}
    args: list[str] = [
        "--root-url", api_url,
        "--collection", L1C,
        "--geometry", json.dumps(geometry),
        "--auth-bearer-token", API_KEY,
        "--transaction-collection", L1C,
        "--fields-nested-property", "properties.eo:cloud_cover",
        "--log-level", "WARNING",
    ]  # fmt: skip
    for cc in CONFORMANCE:
        args += ["--conformance", cc]
    for option, value in QUERY_OPTIONS.items():
        args += [option, value]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.catalog.api_offline_validator",
            str(stac_schemas),
            "--",
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.stdout + proc.stderr


def test_stac_api_validator_reports_no_errors(api_url: str, stac_schemas: Path) -> None:
    output = run_validator(api_url, stac_schemas)
    _, errors = validator_report(output)
    assert errors == [], "\n".join(errors)


def test_catalogue_and_collections_validate_with_pystac(api_url: str, stac_schemas: Path) -> None:
    # The validator's last step, which it skips when it reported anything (the limits above).
    proc = subprocess.run(
        [sys.executable, "-m", "tests.catalog.api_offline_validator", str(stac_schemas),
         "--pystac", api_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 collections are valid" in proc.stdout


def test_the_api_declares_every_class_we_validate(api_url: str) -> None:
    declared = httpx.get(api_url + "/conformance").json()["conformsTo"]
    # "https://api.stacspec.org/v1.0.0/ogcapi-features#sort" -> "ogcapi-features#sort"
    names = {c.split("/", 4)[-1] for c in declared if c.startswith("https://api.stacspec.org/")}
    spelled = {
        "features": "ogcapi-features",
        "filter": "item-search#filter",
        "transaction": "ogcapi-features/extensions/transaction",
    }
    for cc in CONFORMANCE:
        name = spelled.get(cc, cc.replace("features#", "ogcapi-features#"))
        assert name in names, (cc, sorted(names))

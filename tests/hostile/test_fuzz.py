"""schemathesis over both OpenAPI documents, against real servers: no request may get a 5xx.

Three bounded runs (a few cases per operation and a fixed seed, so that CI is repeatable; about
14 000 requests, 1 to 1.5 minutes in all): the tiler; the STAC API's write routes without a key
(they answer 401); the whole STAC API with a key, last, because its writes change the
catalogue (a database of its own). Path parameters are pinned to a real collection, item and
registered search, so that the cases reach the code behind them instead of stopping at a 404.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from catalog.collections import L1C
from catalog.stac_validation import StacValidator
from tests.hostile.conftest import API_KEY, Services, services

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 20261201
MAX_EXAMPLES = 5
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def served(
    pg_admin_url: str,
    template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
    hostile_validator: StacValidator,
) -> Iterator[Services]:
    with services(
        pg_admin_url, template_database, tmp_path_factory.mktemp("fuzz"), hostile_validator
    ) as running:
        yield running


@pytest.fixture(scope="module")
def config(served: Services, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A schemathesis configuration pinning the path parameters to things that exist."""
    search = httpx.post(
        f"{served.tiler}/searches/register",
        json={"collections": [L1C], "datetime": "2023-06-01T00:00:00Z/2023-06-30T23:59:59Z"},
        timeout=30,
    )
    assert search.status_code == 200, search.text
    path = tmp_path_factory.mktemp("schemathesis") / "schemathesis.toml"
    path.write_text(
        "[parameters]\n"
        f'"path.collection_id" = "{L1C}"\n'
        f'"path.item_id" = "{served.item_id("a")}"\n'
        f'"path.search_id" = "{search.json()["id"]}"\n'
        # A PUT takes the body of the POST beside it (an item, a collection): the coverage
        # phase walks that body's schema once, on the POST (5 000 cases for an item).
        + "".join(
            f'\n[[operations]]\ninclude-method = "PUT"\ninclude-path = "{p}"\n'
            "phases.coverage.enabled = false\n"
            for p in (
                "/collections/{collection_id}/items/{item_id}",
                "/collections/{collection_id}",
            )
        )
    )
    return path


def fuzz(
    config: Path,
    schema_url: str,
    *options: str,
    phases: str = "examples,coverage,fuzzing",
    operations: int,
) -> None:
    """Run schemathesis; fail with its report if any case got a 5xx (or the schema is bad),
    or if fewer than ``operations`` operations were tested (a filter that matches nothing
    tests nothing, and schemathesis still exits 0)."""
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        schema_url,
        "--checks",
        "not_a_server_error",
        "--phases",
        phases,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
        *options,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=240, cwd=config.parent, check=False
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-6000:]
    assert "Server error" not in report
    tested = re.search(r"^\s*Tested: (\d+)$", report, re.MULTILINE)
    assert tested and int(tested.group(1)) >= operations, report[-3000:]


def test_the_tiler_answers_no_5xx(served: Services, config: Path):
    fuzz(config, f"{served.tiler}/api", operations=20)


def test_the_api_write_routes_answer_no_5xx_without_a_key(served: Services, config: Path):
    """The read routes are the same with a key or without: this run fuzzes the writes, whose
    answer is a 401 whatever the body (the coverage phase, 9 000 cases of item bodies, runs
    with the key)."""
    tags = ["--include-tag", "Transaction Extension", "--include-tag", "Bulk Transaction Extension"]
    fuzz(config, f"{served.api}/api", *tags, phases="examples,fuzzing", operations=5)


def test_the_api_answers_no_5xx_with_a_key(served: Services, config: Path):
    fuzz(config, f"{served.api}/api", "--header", f"X-API-Key: {API_KEY}", operations=15)

"""Helpers for pipeline tests: waiting on the job table, sample products, checking results."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from rio_cogeo.cogeo import cog_validate

from catalog.settings import DatabaseSettings
from ingest.jobs import Job, JobStore

T = TypeVar("T")
SIZE = 366  # 3.66 km: the model runs at 30 m, so a product takes about a second
FIRST_DAY = date(2023, 6, 1)


def wait_for(
    check: Callable[[], T | None], what: str, timeout: float = 240.0, interval: float = 0.2
) -> T:
    """Poll ``check`` until it returns something true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def jobs(database: DatabaseSettings) -> list[Job]:
    """Every job, by id."""
    with JobStore(database.url) as store:
        return sorted(store.list_jobs(limit=None), key=lambda j: j.id)


def all_done(database: DatabaseSettings, expected: int) -> list[Job] | None:
    """The jobs once there are ``expected`` of them and none is queued or running."""
    found = jobs(database)
    if len(found) == expected and all(j.status not in ("queued", "running") for j in found):
        return found
    return None


def wait_done(
    database: DatabaseSettings,
    expected: int,
    timeout: float = 360.0,
    logs: Callable[[], str] | None = None,
) -> list[Job]:
    """Wait until ``expected`` jobs exist and all have finished."""
    try:
        return wait_for(lambda: all_done(database, expected), f"{expected} finished jobs", timeout)
    except AssertionError as exc:
        state = [(j.id, j.status, j.stage, j.last_error) for j in jobs(database)]
        tail = logs()[-6000:] if logs else ""
        raise AssertionError(f"{exc}; jobs: {state}\nworker logs:\n{tail}") from exc


def items(database: DatabaseSettings) -> list[dict[str, Any]]:
    """Every mask item in pgstac (as pgstac hands them out)."""
    with psycopg.connect(database.url) as conn:
        rows = conn.execute(
            "SELECT pgstac.get_item(id, collection) FROM pgstac.items"
            " WHERE collection LIKE '%%kappamask' ORDER BY id"
        ).fetchall()
    return [r[0] for r in rows]


def sample_day(n: int) -> date:
    """The n-th sample product's sensing day (different days make different product ids)."""
    return FIRST_DAY + timedelta(days=n)


def write_products(outdir: Path, count: int, *, fmt: str = "safe", start: int = 0) -> list[Any]:
    """``count`` small sample products with different ids."""
    from inference.sample import write_sample_product

    return [
        write_sample_product(outdir, size=SIZE, seed=n, date=sample_day(n), fmt=fmt)
        for n in range(start, start + count)
    ]


def assert_valid_cog(href: str) -> None:
    """The mask behind ``href`` is a valid COG."""
    valid, errors, _warnings = cog_validate(href, quiet=True)
    assert valid, f"{href}: {errors}"


def absolute_item(path: Path, collection: str) -> dict[str, Any]:
    """A sample STAC item file as a source catalogue serves it: ``file://`` asset hrefs."""
    item = json.loads(path.read_text())
    item["collection"] = collection
    for asset in item.get("assets", {}).values():
        href = asset["href"]
        if "://" not in href:  # served over HTTP, a bare path would be read as a URL path
            asset["href"] = (path.parent / href).resolve().as_uri()
    item["links"] = [link for link in item.get("links", []) if link.get("rel") != "self"]
    return item


def log_records(logs: str) -> list[tuple[datetime, str]]:
    """(time, message) of every JSON log record the workers wrote."""
    found = []
    for line in logs.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        found.append((datetime.fromisoformat(record["time"]), str(record.get("message", ""))))
    return found


def published(logs: str) -> Counter[str]:
    """How many times the workers' logs say each item was published."""
    return Counter(
        message.split()[1] for _, message in log_records(logs) if message.startswith("published ")
    )


def started_processes(logs: str) -> dict[str, int]:
    """The pid of each process a worker group says it started (the latest one per name)."""
    found: dict[str, int] = {}
    for _, message in log_records(logs):
        words = message.split()
        if words[1:3] == ["started", "(pid"]:
            found[words[0]] = int(words[3].rstrip(")"))
    return found

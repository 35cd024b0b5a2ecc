"""Fixtures shared by every test: where the shared real data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytest_plugins = ["tests.database"]


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """In CI a skipped test is a failure: a missing service must not pass unnoticed."""
    report = yield
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if in_ci and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true makes skips failures): {report.longrepr}"
    return report

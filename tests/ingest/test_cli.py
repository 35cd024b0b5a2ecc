"""Command-line mistakes end with a message and exit code 1, before anything is changed."""

from __future__ import annotations

from pathlib import Path

from kappacat.settings import DatabaseSettings
from tests.ingest.conftest import kappacat


def test_bad_arguments_are_refused_with_a_message(
    database: DatabaseSettings, tmp_path: Path
) -> None:
    env = {"KAPPACAT_DATABASE_URL": database.url, "KAPPACAT_BROKER_URL": "kafka://nowhere:9092"}
    proc = kappacat(env, "worker", "--queues", "infer,bogus")
    assert proc.returncode == 1
    assert "unknown scheme 'kafka'" in proc.stderr  # the broker is checked first
    proc = kappacat(env, "ingest", str(tmp_path / "S2A_MSIL1C_missing.zip"))
    assert proc.returncode == 1
    assert "no such file or directory; " not in proc.stderr
    assert "nothing was submitted" in proc.stderr and "S2A_MSIL1C_missing.zip" in proc.stderr

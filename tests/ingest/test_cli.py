"""Command-line mistakes end with a message and exit code 1, before anything is changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from catalog.settings import DatabaseSettings
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


def test_a_file_name_that_is_not_utf8_is_refused_without_a_traceback(
    database: DatabaseSettings, tmp_path: Path
) -> None:
    raw = os.fsencode(tmp_path) + b"/S2A_MSIL1C_20230601T103631_N0509_R008_T32UQD_\xff\xfe.zip"
    Path(os.fsdecode(raw)).write_bytes(b"PK\x03\x04")
    for source in (raw, os.fsencode(tmp_path)):  # named, and found by scanning its folder
        proc = subprocess.run(
            [sys.executable, "-m", "kappacat", "ingest", source],
            env={**os.environ, "KAPPACAT_DATABASE_URL": database.url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "nothing was submitted" in proc.stderr and "not valid UTF-8" in proc.stderr
        assert "T32UQD_\\xff\\xfe.zip" in proc.stderr  # the bytes a person can find it by

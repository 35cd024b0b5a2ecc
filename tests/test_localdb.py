"""The private PostgreSQL server the demo and machines without a server rely on."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg

from kappacat.localdb import answers, postgres_server


def test_private_server_starts_keeps_its_data_and_stops() -> None:
    # Not pytest's tmp_path: as root the server runs as postgres, which must reach the folder.
    base = Path(tempfile.mkdtemp(prefix="kappacat-localdb-"))
    base.chmod(0o755)
    root = base / "pg"
    try:
        check_server(root)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def check_server(root: Path) -> None:
    with postgres_server(root) as url:
        assert ":5432/" not in url  # never the machine's own server
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE kept")
    assert not answers(url)
    with postgres_server(root) as url2, psycopg.connect(url2) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert "kept" in names

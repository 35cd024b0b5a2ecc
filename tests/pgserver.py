"""A PostgreSQL server for the tests: the one on 127.0.0.1:5432 when it answers, else a private one.

The private server is started from the installed PostgreSQL binaries (initdb into a temporary
directory, a free port) so the test command also works on a machine without a running server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if not found:
        raise RuntimeError("no PostgreSQL server answers and no initdb is installed")
    return Path(found).parent


@contextlib.contextmanager
def private_server() -> Iterator[str]:
    """Start a throw-away PostgreSQL server; yields its admin URL."""
    bindir = _bindir()
    tmp = Path(tempfile.mkdtemp(prefix="kappacat-pg-"))
    data, port = tmp / "data", _free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(tmp, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(tmp / "log"),
            "-w",
            "-o",
            f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while not _answers(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        yield url
    finally:
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def admin_url() -> Iterator[str]:
    """The admin URL of a server the tests may create databases on."""
    url = os.environ.get("KAPPACAT_TEST_ADMIN_URL", DEFAULT_ADMIN_URL)
    if _answers(url):
        yield url
        return
    with private_server() as private:
        yield private

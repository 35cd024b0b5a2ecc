"""Private PostgreSQL servers started from the installed binaries (for the demo and the tests).

They never touch a server already running on the machine: their own data directory, their own
free port on 127.0.0.1, a Unix socket in their own directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg


class LocalServerError(RuntimeError):
    """A private server could not be started."""


def answers(url: str, timeout: int = 3) -> bool:
    """Whether a PostgreSQL server accepts connections at ``url``."""
    try:
        with psycopg.connect(url, connect_timeout=timeout):
            return True
    except psycopg.OperationalError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL server's ``bin`` folder."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]),
        reverse=True,
    )
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if not found:
        raise LocalServerError("PostgreSQL server binaries (initdb) are not installed")
    return Path(found).parent


def _as_postgres(path: Path) -> list[str]:
    """Run as the postgres user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return []
    shutil.chown(path, "postgres")
    for child in path.rglob("*"):
        shutil.chown(child, "postgres")
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def postgres_server(root: Path, port: int | None = None) -> Iterator[str]:
    """Run PostgreSQL with its data in ``root`` (created when new, reused when not).

    Yields the admin URL; the server is stopped on exit.
    """
    bindir = postgres_bindir()
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    prefix = _as_postgres(root)
    if not (data / "PG_VERSION").exists():
        result = subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LocalServerError(f"initdb in {data} failed: {result.stderr.strip()}")
    port = port or free_port()
    result = subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
            "start",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        log = (root / "server.log").read_text()[-2000:] if (root / "server.log").exists() else ""
        raise LocalServerError(f"PostgreSQL in {data} did not start: {result.stderr}{log}")
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while not answers(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        yield url
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
        )

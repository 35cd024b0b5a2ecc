"""Private PostgreSQL and Redis servers started from the installed binaries (demo and tests).

They never touch a server already running on the machine: their own data directory, their own
free port on 127.0.0.1, a Unix socket in their own directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

from kappacat.children import PidFile, child, stop


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


def wait_until(check: Callable[[], bool], proc: subprocess.Popen[Any], timeout: float) -> bool:
    """Poll ``check`` until it holds (True), the process exits or time runs out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def _tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


@contextlib.contextmanager
def postgres_server(root: Path, port: int | None = None) -> Iterator[str]:
    """Run PostgreSQL with its data in ``root`` (created when new, reused when not).

    The server is a child of this process and stops when it exits, or dies with it (a fast
    shutdown, even after SIGKILL). Yields the admin URL; the server is stopped on exit.
    """
    bindir = postgres_bindir()
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    as_root = os.geteuid() == 0
    if as_root:  # initdb and postgres refuse to run as root
        shutil.chown(root, "postgres")
        for path in root.rglob("*"):
            shutil.chown(path, "postgres")
    user = "postgres" if as_root else None
    pidfile = PidFile(root / "server.kappacat.pid")
    _stop_left_over(pidfile, signal.SIGINT)
    if not (data / "PG_VERSION").exists():
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        result = subprocess.run(
            [*initdb, "-E", "UTF8"],
            capture_output=True,
            text=True,
            check=False,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
        if result.returncode != 0:
            raise LocalServerError(f"initdb in {data} failed: {result.stderr.strip()}")
    port = port or free_port()
    log = root / "server.log"
    args = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root),
            "-c", "listen_addresses=127.0.0.1"]  # fmt: skip
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    fast = signal.SIGINT  # PostgreSQL's fast shutdown
    with (
        log.open("ab") as out,
        child(
            args,
            pidfile=pidfile,
            what="postgres",
            output=out,
            user=user,
            death_signal=fast,
            stop_signal=fast,
        ) as proc,
    ):
        if not wait_until(lambda: answers(url), proc, 60):
            raise LocalServerError(f"PostgreSQL in {data} did not start: {_tail(log)}")
        yield url


def _stop_left_over(pidfile: PidFile, first_signal: int = signal.SIGTERM) -> None:
    """Stop the server an earlier run of the same folder left behind, if any."""
    if (pid := pidfile.running()) is not None:
        stop(pid, first_signal)
    pidfile.remove()


@contextlib.contextmanager
def redis_server(root: Path, port: int | None = None) -> Iterator[str]:
    """A private Redis in ``root`` on a free port, without persistence; yields its URL.

    Like :func:`postgres_server`, it is a child of this process and dies with it.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise LocalServerError("redis-server is not installed (apt-get install redis-server)")
    root.mkdir(parents=True, exist_ok=True)
    pidfile = PidFile(root / "server.kappacat.pid")
    _stop_left_over(pidfile)
    port = port or free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
            "no", "--dir", str(root), "--logfile", str(root / "redis.log")]  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    with child(args, pidfile=pidfile, what="redis-server") as proc:
        if not wait_until(lambda: _redis_answers(port), proc, 20):
            raise LocalServerError(f"Redis did not start: {_tail(root / 'redis.log')}")
        yield url


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.exceptions.ConnectionError:
        return False

"""Run KappaCat's servers as real processes (``kappacat serve ...``) for tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(
    component: str, env: dict[str, str], health_path: str, timeout: float = 60.0
) -> Iterator[str]:
    """Start ``kappacat serve COMPONENT`` on a free port; yields its base URL once healthy."""
    with serve_process(component, env, health_path, timeout) as (base, _):
        yield base


def worker_pids(supervisor: int) -> set[int]:
    """The worker processes uvicorn's supervisor runs (not its resource tracker)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    workers = set()
    for child in map(int, children):
        with contextlib.suppress(OSError):
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(child)
    return workers


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for process {pid}")


@contextlib.contextmanager
def serve_process(
    component: str, env: dict[str, str], health_path: str, timeout: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """:func:`serve`, also yielding the ``kappacat serve`` process (the supervisor).

    Its output goes to a temporary file, not a pipe: a pipe nobody reads fills up with access
    logs and then blocks the server.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # A metrics listener of its own (unless the test chooses one): servers started side by
    # side must not all take the default metrics port.
    metrics = {f"KAPPACAT_{component.upper()}_METRICS_PORT": str(free_port())}
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kappacat", "serve", component, "--port", str(port)],
            env={**os.environ, **metrics, **env},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"kappacat serve {component} exited early:\n{log.read()}")
                try:
                    if httpx.get(base + health_path, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"kappacat serve {component} did not become healthy")
                time.sleep(0.3)
            yield base, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

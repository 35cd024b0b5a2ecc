"""Run KappaCat's servers as real processes (``kappacat serve ...``) for tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from kappacat.children import stop
from kappacat.localdb import free_port, wait_until

REPO = Path(__file__).resolve().parents[1]
__all__ = [
    *("free_port", "http_answers", "http_server", "serve", "serve_process", "stop_process"),
    "wait_until",
]


def http_answers(url: str, *, any_status: bool = False) -> bool:
    """Whether ``url`` answers 200 (``any_status``: answers at all)."""
    try:
        response = httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return any_status or response.status_code == 200


@contextlib.contextmanager
def http_server(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` from a thread on a free port of 127.0.0.1; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Stop a process a test started: SIGTERM, SIGKILL after ``timeout`` seconds; reaped."""
    if proc.poll() is None:
        stop(proc.pid, timeout=timeout)
    proc.wait()


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
            if not wait_until(lambda: http_answers(base + health_path), proc, timeout):
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"kappacat serve {component} exited early:\n{log.read()}")
                raise RuntimeError(f"kappacat serve {component} did not become healthy")
            yield base, proc
        finally:
            stop_process(proc, timeout=15)

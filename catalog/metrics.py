"""Prometheus metrics of the HTTP services (the STAC API, the tiler), across all their processes.

Each service runs several uvicorn worker processes under one supervisor
(:func:`catalog.web.serve_supervised`). Requests are counted in the workers by
prometheus-fastapi-instrumentator's middleware (:func:`instrument`), through prometheus_client's
multiprocess mode: every worker writes its values into files in one directory per service
(``metrics_dir`` or a temporary one made at startup). The supervisor serves them summed over
all workers on a listener of its own (:func:`metrics_listener`), on ``metrics_host`` (loopback
unless configured) and ``metrics_port``: never on the public port, so a reverse proxy in front
of the service cannot expose it by accident. A worker that dies is forgotten
(:meth:`MetricsFiles.forget`): its live gauges go, its counts stay, as Prometheus expects of
counters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Where prometheus_client's multiprocess mode keeps a process's values (read at its import)."""


class MetricsSettings(BaseModel):
    """Where a service's metrics are served; inherited by each service's settings class, which
    gives ``metrics_port`` its own default."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    metrics_port: int = Field(0, ge=0, le=65535)
    """Port of the metrics listener (``/metrics``, Prometheus text format); 0: no metrics."""

    metrics_host: str = "127.0.0.1"
    """Address the metrics listener (``/metrics``) binds to: loopback unless configured, since
    the metrics are for the operator's Prometheus, not the public (``0.0.0.0``: every
    interface)."""
    metrics_dir: Path | None = None
    """Directory where the worker processes keep their metric values (prometheus_client's
    multiprocess mode); emptied at startup. Unset: a temporary directory, removed at exit."""


def instrument(app: FastAPI) -> None:
    """Count and time every request of ``app`` by route template, method and status code.

    Each app has its own registry: in a worker process the values go to the multiprocess
    files anyway, and apps built side by side (in tests) do not clash.
    """
    Instrumentator(
        should_group_status_codes=False,
        should_group_untemplated=True,  # unknown paths count as handler "none", not one each
        registry=CollectorRegistry(auto_describe=True),
    ).instrument(app)


@dataclass(frozen=True)
class MetricsFiles:
    """The multiprocess directory of one running service."""

    path: Path

    def registry(self) -> CollectorRegistry:
        """A registry that reads the values of every process (alive or dead) at each scrape."""
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.path))
        return registry

    def forget(self, pid: int) -> None:
        """Drop the live gauges of a worker process that has gone."""
        mark_process_dead(pid, str(self.path))


@contextlib.contextmanager
def metrics_files(configured: Path | None) -> Iterator[MetricsFiles]:
    """The directory for this run, named in the environment its worker processes inherit.

    A configured directory is emptied first (values of an earlier run would be summed in);
    a temporary one is removed at the end.
    """
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        for stale in configured.glob("*.db"):
            stale.unlink()
        path = configured.resolve()
    else:
        path = Path(tempfile.mkdtemp(prefix="kappacat-metrics-"))
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield MetricsFiles(path)
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        if configured is None:
            shutil.rmtree(path, ignore_errors=True)


class MetricsListenError(RuntimeError):
    """The metrics listener cannot bind its address; the message names the setting."""


@contextlib.contextmanager
def metrics_listener(
    registry: CollectorRegistry, host: str, port: int, setting: str
) -> Iterator[str]:
    """Serve ``registry`` at ``http://host:port/metrics`` (prometheus_client's own server)
    from a background thread; yields the URL."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise MetricsListenError(
            f"cannot listen for metrics on {host}:{port} ({setting}): {exc.strerror or exc}"
        ) from exc
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_port}/metrics"
    logger.info("metrics at %s", url)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

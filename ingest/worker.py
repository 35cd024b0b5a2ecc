"""The processes of ``kappacat worker``, and how a worker process handles a message.

:class:`ingest.supervisor.WorkerGroup` runs them: :func:`worker_process` (a dramatiq
:class:`~dramatiq.Worker` whose broker :func:`boot` makes and binds to a :class:`Runtime`),
:func:`sweep_process` (the recovery sweep) and :func:`metrics_process` (the host's one
Prometheus scrape target: every process's counts, dramatiq's included, and the job table's and
the broker's state, :mod:`ingest.metrics`).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Sequence
from types import FrameType

import dramatiq
import dramatiq.worker
from dramatiq.middleware import Middleware
from pydantic import ValidationError

from catalog.settings import DatabaseSettings, StorageSettings
from catalog.stac_validation import StacValidator
from ingest.broker import make_broker
from ingest.capacity import CapacityGate
from ingest.errors import ConfigError
from ingest.jobs import JobStore
from ingest.logs import configure_logging, worker_name
from ingest.metrics import Probe, follow_probe, job_probe, queue_probe, registry, serve
from ingest.pipeline import Pipeline
from ingest.recovery import sweep
from ingest.runtime import Runtime
from ingest.settings import BrokerSettings, WorkerSettings
from ingest.stages import STAGE_FUNCTIONS
from ingest.storage import open_storage
from ingest.supervisor import EXIT_CONFIG

logger = logging.getLogger(__name__)


def _settings() -> tuple[BrokerSettings, WorkerSettings, StorageSettings, DatabaseSettings]:
    return BrokerSettings(), WorkerSettings(), StorageSettings(), DatabaseSettings()


def boot() -> Runtime:
    """Set up this worker process: logging, the broker, actors bound to a Runtime."""
    broker_settings, worker_settings, storage_settings, database = _settings()
    configure_logging(worker_settings.log_format)
    extra: list[Middleware] = [CapacityGate()]
    if worker_settings.metrics_port:
        from dramatiq.middleware.prometheus import Prometheus

        extra.append(Prometheus())
    broker = make_broker(broker_settings, worker_settings, extra_middleware=extra)
    dramatiq.set_broker(broker)
    # dramatiq reads its prefetch from a module global; long jobs want it small.
    dramatiq.worker.QUEUE_PREFETCH = worker_settings.prefetch
    runtime = Runtime(
        open_storage(storage_settings),
        worker_settings,
        worker_name(),
        JobStore(database.url, pool_size=worker_settings.db_pool_size),
        broker,
        broker_settings,
        STAGE_FUNCTIONS,
        StacValidator.from_settings(),
    )
    logger.info("worker %s ready (%s)", runtime.name, broker_settings.url.split("@")[-1])
    return runtime


REPEAT_S = 1.0
"""A stop signal this soon after the first is the same stop twice (systemd signals the whole
control group and the group's main process passes its signal on): not a request to hurry."""


def worker_process(queues: Sequence[str], threads: int, stop_timeout_s: float) -> int:
    """Run a dramatiq worker on ``queues`` (all when empty) until SIGTERM; then let jobs end.

    What dramatiq's own worker processes do, through its public API: the broker, the
    ``process_boot`` hooks, a :class:`dramatiq.Worker`, a graceful stop. A second SIGTERM
    leaves at once.
    """
    stopped_at: list[float] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not stopped_at:
            stopped_at.append(time.monotonic())
        elif time.monotonic() - stopped_at[0] > REPEAT_S:
            raise SystemExit(1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        runtime = boot()
    except (ConfigError, ValidationError) as exc:
        logger.critical("cannot start a worker: %s", exc)
        return EXIT_CONFIG
    broker = runtime.broker
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, queues=set(queues) or None, worker_threads=threads)
    worker.start()
    while not stopped_at and not runtime.misconfigured.is_set():
        time.sleep(0.2)
    logger.info("stopping; running jobs get up to %.0f s to end", stop_timeout_s)
    worker.stop(timeout=int(stop_timeout_s * 1000))
    broker.close()
    return EXIT_CONFIG if runtime.misconfigured.is_set() else 0


def metrics_process() -> int:
    """Serve ``/metrics`` of this worker host until SIGTERM (:mod:`ingest.metrics`)."""
    broker_settings, worker_settings, _storage, database = _settings()
    configure_logging(worker_settings.log_format)
    broker = make_broker(broker_settings, worker_settings)
    store = JobStore(database.url, pool_size=1, timeout=10)
    probes: dict[str, Probe] = {
        "jobs": job_probe(store),
        "broker": queue_probe(broker, broker_settings),
        "follow": follow_probe(store),
    }
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]  # set by ``kappacat worker``
    host, port = worker_settings.metrics_host, worker_settings.metrics_port
    try:
        server = serve(registry(path, probes), host, port)
    except OSError as exc:  # the group starts it again, after a pause
        logger.error(
            "cannot listen for metrics on %s:%d (KAPPACAT_WORKER_METRICS_PORT): %s",
            host,
            port,
            exc.strerror or exc,
        )
        store.close()
        broker.close()
        return 1
    try:
        while True:
            time.sleep(3600)
    finally:  # the group stops its helpers with SystemExit from a signal handler
        server.shutdown()
        store.close()
        broker.close()


def sweep_process() -> int:
    """Reconcile every ``KAPPACAT_WORKER_SWEEP_INTERVAL_S`` until SIGTERM."""
    broker_settings, worker_settings, _storage, database = _settings()
    configure_logging(worker_settings.log_format)
    broker = make_broker(broker_settings, worker_settings)
    pipeline = Pipeline(JobStore(database.url), broker, broker_settings, worker_settings)
    logger.info(
        "recovery sweep every %.0f s: a lost worker's job is queued again within %.0f s",
        worker_settings.sweep_interval_s,
        worker_settings.lease_s + worker_settings.sweep_interval_s,
    )
    try:
        sweep(pipeline, worker_settings.sweep_interval_s)
    finally:  # the group stops its helpers with SystemExit from a signal handler
        pipeline.close()
    return 0

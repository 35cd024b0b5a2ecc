"""The processes of ``kappacat worker``, and how a worker process handles a message.

:class:`ingest.supervisor.WorkerGroup` runs them: :func:`worker_process` (a dramatiq
:class:`~dramatiq.Worker` whose broker :func:`boot` makes and binds to a :class:`Runtime`),
:func:`sweep_process` (the recovery sweep) and :func:`metrics_process` (the Prometheus
exposition server of dramatiq's middleware).
"""

from __future__ import annotations

import logging
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

import dramatiq
import dramatiq.worker
import psycopg
from dramatiq.middleware import CurrentMessage, Interrupt, Middleware
from pydantic import ValidationError

from catalog.settings import DatabaseSettings, StorageSettings
from ingest.broker import make_broker, retry_rule
from ingest.capacity import CapacityGate
from ingest.errors import BadInputError, ConfigError, JobLost
from ingest.jobs import Job, JobStore
from ingest.logs import configure_logging, job_context, worker_name
from ingest.pipeline import Pipeline
from ingest.recovery import sweep
from ingest.settings import BrokerSettings, WorkerSettings
from ingest.storage import Storage, open_storage
from ingest.supervisor import EXIT_CONFIG

logger = logging.getLogger(__name__)


class Lease:
    """Keeps a running job's lease alive from a background thread while a stage works."""

    def __init__(self, store: JobStore, job: Job, lease_s: float) -> None:
        self.store, self.job, self.lease_s = store, job, lease_s
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job.id}", daemon=True)

    def _run(self) -> None:
        interval = max(self.lease_s / 4, 0.2)
        while not self._stop.wait(interval):
            try:
                if not self.store.renew(self.job.id, self.job.message_id or "", self.lease_s):
                    logger.warning("job %s was taken back by recovery", self.job.id)
                    self.lost.set()
                    return
            except psycopg.Error as exc:  # a database blip: keep trying while the lease lasts
                logger.warning("could not renew the lease of job %s: %s", self.job.id, exc)

    def check(self) -> None:
        """Raise :class:`JobLost` if the job is no longer ours."""
        if self.lost.is_set():
            raise JobLost(f"job {self.job.id} was taken back by recovery")

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


Stage = Callable[["Runtime", Job, Lease], None]


@dataclass
class Runtime:
    """What a worker process needs to run stages: the pipeline, storage and settings."""

    storage: Storage
    settings: WorkerSettings
    name: str
    pipeline: Pipeline = field(init=False)

    @property
    def retry_when(self) -> Callable[[int, BaseException], bool]:
        """The broker's retry rule: whether a failed stage will run again."""
        return retry_rule(self.settings)

    @property
    def store(self) -> JobStore:
        """The job table."""
        return self.pipeline.store

    @property
    def work_dir(self) -> Path:
        """Scratch space for this process."""
        base = self.settings.work_dir or Path(tempfile.gettempdir()) / "kappacat-work"
        path = base / self.name.replace(":", "-")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def handle(self, stage: str, job_id: int) -> None:
        """Run one stage of one job for the current message; the message's retries follow."""
        from ingest.stages import STAGE_FUNCTIONS

        message = CurrentMessage.get_current_message()
        if message is None:
            raise RuntimeError("CurrentMessage middleware is missing")
        job = self.store.claim(job_id, message.message_id, stage, self.name, self.settings.lease_s)
        if job is None:
            logger.info(
                "message %s for job %s (%s) is stale; dropped", message.message_id, job_id, stage
            )
            return
        with (
            job_context(job.id, job.product_id, stage),
            Lease(self.store, job, self.settings.lease_s) as lease,
        ):
            try:
                STAGE_FUNCTIONS[stage](self, job, lease)
            except JobLost as exc:
                logger.warning("%s", exc)
            except BadInputError as exc:
                logger.warning("job failed (bad input): %s", exc)
                self.store.fail(job, str(exc))
            except (Exception, Interrupt) as exc:
                self._transient(job, stage, exc, int(message.options.get("retries", 0)))
                raise

    def _transient(self, job: Job, stage: str, exc: BaseException, retries: int) -> None:
        error = f"{stage}: {type(exc).__name__}: {exc}"
        if self.retry_when(retries, exc):
            logger.warning("attempt %d failed, will retry: %s", retries + 1, error)
            self.store.release(job, error)
        else:
            logger.error("job failed after %d attempts: %s", retries + 1, error)
            self.store.fail(
                job,
                f"{error} (gave up after {retries + 1} attempts; ingest it again to resume)",
                failure="transient",
            )


def _settings() -> tuple[BrokerSettings, WorkerSettings, StorageSettings, DatabaseSettings]:
    return BrokerSettings(), WorkerSettings(), StorageSettings(), DatabaseSettings()


def boot() -> dramatiq.Broker:
    """Set up this worker process (logging, broker, actors bound to a Runtime); its broker."""
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
    store = JobStore(database.url, pool_size=worker_settings.db_pool_size)
    runtime = Runtime(open_storage(storage_settings), worker_settings, worker_name())
    runtime.pipeline = Pipeline(store, broker, broker_settings, worker_settings, runtime.handle)
    logger.info("worker %s ready (%s)", runtime.name, broker_settings.url.split("@")[-1])
    return broker


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
        broker = boot()
    except (ConfigError, ValidationError) as exc:
        logger.critical("cannot start a worker: %s", exc)
        return EXIT_CONFIG
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, queues=set(queues) or None, worker_threads=threads)
    worker.start()
    while not stopped_at:
        time.sleep(0.2)
    logger.info("stopping; running jobs get up to %.0f s to end", stop_timeout_s)
    worker.stop(timeout=int(stop_timeout_s * 1000))
    broker.close()
    return 0


def metrics_process() -> int:
    """Serve the Prometheus metrics of every worker process (dramatiq's exposition server)."""
    from dramatiq.middleware.prometheus import Prometheus

    for serve in Prometheus().forks:
        serve()
    return 0


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

"""What a worker process runs stages with: the job's lease, the stage type and the runtime.

:mod:`ingest.stages` defines the stages against these types; :mod:`ingest.worker` builds a
:class:`Runtime` with them in each worker process.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from types import TracebackType

import dramatiq
import psycopg
from dramatiq.middleware import CurrentMessage, Interrupt

from catalog.stac_validation import StacValidator
from ingest.errors import JobLost
from ingest.jobs import Job, JobStore
from ingest.logs import job_context
from ingest.metrics import STAGE_FAILURES, STAGE_SECONDS
from ingest.pipeline import Pipeline
from ingest.policy import Outcome, outcome, retry_rule
from ingest.settings import BrokerSettings, WorkerSettings
from ingest.storage import Storage

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
"""One stage of the pipeline: what it does to a job while holding its lease."""


@dataclass
class Runtime:
    """What a worker process needs to run stages: the pipeline, storage and settings.

    ``stages`` maps each stage name to its function (:data:`ingest.stages.STAGE_FUNCTIONS`);
    the pipeline's actors hand their messages to :meth:`handle`.
    """

    storage: Storage
    settings: WorkerSettings
    name: str
    store: JobStore
    broker: dramatiq.Broker
    broker_settings: BrokerSettings
    stages: Mapping[str, Stage]
    validator: StacValidator
    """What every item is checked with before it is published."""
    pipeline: Pipeline = field(init=False)
    retry_when: Callable[[int, BaseException], bool] = field(init=False)
    """The broker's retry rule (:func:`ingest.policy.retry_rule`)."""
    misconfigured: threading.Event = field(init=False, default_factory=threading.Event)
    """Set when a stage found this worker's own settings wrong: the process should stop."""

    def __post_init__(self) -> None:
        self.pipeline = Pipeline(
            self.store, self.broker, self.broker_settings, self.settings, self.handle
        )
        self.retry_when = retry_rule(self.settings)

    @property
    def work_dir(self) -> Path:
        """Scratch space for this process."""
        base = self.settings.work_dir or Path(tempfile.gettempdir()) / "kappacat-work"
        path = base / self.name.replace(":", "-")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def handle(self, stage: str, job_id: int) -> None:
        """Run one stage of one job for the current message; the message's retries follow."""
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
            started = perf_counter()
            try:
                self.stages[stage](self, job, lease)
            except (Exception, Interrupt) as exc:
                STAGE_SECONDS.labels(stage, "error").observe(perf_counter() - started)
                STAGE_FAILURES.labels(stage, outcome(exc).value).inc()
                if self._failed(job, stage, exc, int(message.options.get("retries", 0))):
                    raise
            else:
                STAGE_SECONDS.labels(stage, "ok").observe(perf_counter() - started)

    def _failed(self, job: Job, stage: str, exc: BaseException, retries: int) -> bool:
        """Do what :mod:`ingest.policy` says for ``exc``; whether dramatiq should see it."""
        match outcome(exc):
            case Outcome.DROP:
                logger.warning("%s", exc)
                return False
            case Outcome.FAIL:
                logger.warning("job failed (bad input): %s", exc)
                self.store.fail(job, str(exc))
                return False
            case Outcome.FAIL_CONFIG:
                logger.error("job failed (its model card): %s", exc)
                self.store.fail(
                    job, f"{exc} (fix the model card, then ingest it again)", failure="config"
                )
                return False
            case Outcome.STOP:
                logger.critical("this worker is misconfigured, stopping it: %s", exc)
                self.store.release(job, f"{stage}: a worker's configuration: {exc}")
                self.misconfigured.set()
                return True  # the retry goes to another worker
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
        return True

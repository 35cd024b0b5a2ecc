"""Finding lost work again from the job table: ``kappacat reconcile`` and the workers' sweep.

Two kinds of loss:

- a running job whose worker stopped renewing its lease (killed, out of memory, machine
  gone): it is queued again at the stage it was in, under a new message, so that the old
  message, should the broker hand it out again, is stale and dropped;
- a queued job whose message the broker no longer holds (Redis restarted without
  persistence, a crash between the commit and the send): a new message is sent. Redis is
  asked for the messages it holds; RabbitMQ (durable queues) only says how many wait, so
  there a job is sent again only when its queue is empty and it has waited
  ``KAPPACAT_WORKER_STALE_QUEUED_S``.

Sending a message too many is harmless: the job only accepts its newest one.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from dramatiq import Message

from ingest.broker import backlog, present_messages
from ingest.jobs import RECONCILE_LOCK_ID, Job
from ingest.pipeline import BROKER_ERRORS, Pipeline

logger = logging.getLogger(__name__)

MIN_AGE_S = 10.0
"""A queued job's message must be this old before it can count as vanished: younger, it may
be between its commit and its send."""


@dataclass
class ReconcileReport:
    """What one reconcile run did."""

    recovered: list[int] = field(default_factory=list)
    """Jobs taken back from a lost worker and queued again."""
    resent: list[int] = field(default_factory=list)
    """Queued jobs whose message had vanished, sent again."""
    failed: list[int] = field(default_factory=list)
    """Jobs that lost their worker too often, failed."""
    busy: bool = False
    """Another reconcile was running; this one did nothing."""

    @property
    def changed(self) -> int:
        """How many jobs were touched."""
        return len(self.recovered) + len(self.resent) + len(self.failed)

    def lines(self) -> list[str]:
        """A human summary."""
        if self.busy:
            return ["another reconcile is running; nothing done"]
        return [
            f"recovered {len(self.recovered)} job(s) from lost workers",
            f"sent {len(self.resent)} vanished message(s) again",
            f"failed {len(self.failed)} job(s) that kept losing their worker",
        ]


def _recover(
    pipeline: Pipeline, conn: psycopg.Connection, job: Job, *, lost_worker: bool
) -> Message[None] | None:
    message = pipeline.message(job.id, job.stage)
    if pipeline.store.recover(conn, job, message.message_id, lost_worker=lost_worker):
        return message
    return None


def _vanished(pipeline: Pipeline, jobs: list[Job]) -> list[Job]:
    """The jobs among ``jobs`` (all queued) whose message the broker does not hold."""
    by_stage: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        by_stage[job.stage].append(job)
    now = datetime.now(UTC)
    gone: list[Job] = []
    for stage, waiting in by_stage.items():
        queue = pipeline.queue_name(stage)
        present = present_messages(pipeline.broker, queue)
        if present is not None:
            gone.extend(j for j in waiting if j.message_id not in present)
            continue
        if backlog(pipeline.broker, queue) > 0:
            continue
        stale = pipeline.worker.stale_queued_s
        gone.extend(
            j
            for j in waiting
            if j.enqueued_at is None or (now - j.enqueued_at).total_seconds() >= stale
        )
    return gone


def reconcile(pipeline: Pipeline, *, min_age_s: float = MIN_AGE_S) -> ReconcileReport:
    """Queue again what was lost with a worker or a broker; fail what keeps killing workers.

    ``min_age_s``: a queued job's message must have been sent this long ago before it can be
    taken as vanished (:data:`MIN_AGE_S`).
    """
    store, report = pipeline.store, ReconcileReport()
    messages: list[Message[None]] = []
    with store.transaction() as conn:
        row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (RECONCILE_LOCK_ID,)).fetchone()
        if not row or not row[0]:
            report.busy = True
            return report
        for job in store.lost(conn):
            if job.recoveries >= pipeline.worker.max_recoveries:
                error = (
                    f"{job.stage}: the worker running it ({job.worker}) was lost "
                    f"{job.recoveries + 1} times; the product may be crashing workers "
                    "(out of memory?); ingest it again to resume"
                )
                store.fail_lost(conn, job, error)
                report.failed.append(job.id)
                logger.error("job %s failed: %s", job.id, error)
                continue
            message = _recover(pipeline, conn, job, lost_worker=True)
            if message is not None:
                messages.append(message)
                report.recovered.append(job.id)
                logger.warning(
                    "job %s (%s): worker %s lost during %s; queued again",
                    job.id,
                    job.product_id,
                    job.worker,
                    job.stage,
                )
        waiting = store.waiting(conn, min_age_s)
        for job in _vanished(pipeline, waiting):
            message = _recover(pipeline, conn, job, lost_worker=False)
            if message is not None:
                messages.append(message)
                report.resent.append(job.id)
                logger.warning(
                    "job %s (%s): its %s message vanished from the broker; sent again",
                    job.id,
                    job.product_id,
                    job.stage,
                )
    pipeline.send(messages)
    return report


def sweep(pipeline: Pipeline, interval_s: float, *, stop: float | None = None) -> None:
    """Reconcile every ``interval_s`` seconds (until ``time.monotonic()`` passes ``stop``)."""
    while stop is None or time.monotonic() < stop:
        try:
            report = reconcile(pipeline)
            if report.changed:
                logger.info("sweep: %s", "; ".join(report.lines()))
        except (psycopg.Error, *BROKER_ERRORS) as exc:
            logger.warning("sweep failed, will try again in %.0f s: %s", interval_s, exc)
        time.sleep(interval_s)

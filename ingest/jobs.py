"""The job table: what was asked and what happened, and the only place job state changes.

Every change that a message causes is guarded by the job's current ``message_id``: a message
that is no longer the job's (a duplicate, a redelivery after a crash, a retry of a job that
was recovered meanwhile) changes nothing and is dropped. That is what keeps a job from running
twice at once and from being published twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

STATUSES = ("queued", "running", "succeeded", "failed", "skipped")
ACTIVE = ("queued", "running")
FAILURES = ("input", "config", "transient", "lost")
"""Why a job failed: a bad product (final), its model card was unusable, or retries or
recoveries ran out (the last three resumable by submitting the job again)."""
RESUMABLE = ("config", "transient", "lost")
RECONCILE_LOCK_ID = 0x4B415052  # "KAPR": one reconcile at a time across all workers


@dataclass
class Job:
    """One row of ``kappacat.jobs``."""

    id: int
    product_id: str
    model: str
    model_card: str | None
    source: str
    collection: str | None
    status: str
    stage: str
    force: bool
    attempts: int
    recoveries: int
    last_error: str | None
    timings: dict[str, float]
    worker: str | None
    message_id: str | None
    lease_expires_at: datetime | None
    product: dict[str, Any] | None
    output: dict[str, Any] | None
    output_href: str | None
    created_at: datetime
    updated_at: datetime
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    failure: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The job as JSON-ready values (what ``kappacat jobs --json`` prints)."""
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if name == "output" and value:
                value = {k: v for k, v in value.items() if k != "item"}
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass
class Submitted:
    """The outcome of submitting one product: the job, and whether a message must be sent."""

    job: Job
    created: bool
    reset: bool = False
    resumed: bool = False

    @property
    def dispatch(self) -> bool:
        """Whether this submission put the job (back) on the queue."""
        return self.created or self.reset or self.resumed


@dataclass
class Counts:
    """Jobs per status."""

    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All jobs."""
        return sum(self.by_status.values())

    @property
    def active(self) -> int:
        """Jobs queued or running."""
        return sum(self.by_status.get(s, 0) for s in ACTIVE)

    @property
    def done(self) -> int:
        """Jobs that will not change any more (succeeded, failed, skipped)."""
        return self.total - self.active


_RESET = """
    status = 'queued', stage = 'fetch', worker = NULL, lease_expires_at = NULL,
    message_id = NULL, enqueued_at = NULL, last_error = NULL, finished_at = NULL,
    started_at = NULL, attempts = 0, recoveries = 0, timings = '{}'::jsonb, output = NULL,
    failure = NULL, updated_at = now()
"""


class JobStore:
    """Reads and changes jobs through a connection pool."""

    def __init__(self, dsn: str, *, pool_size: int = 2, timeout: float = 30.0) -> None:
        self.pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(pool_size, 1),
            open=True,
            timeout=timeout,
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True},
            name="kappacat-jobs",
        )

    def close(self) -> None:
        """Close every connection."""
        self.pool.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection inside one transaction, committed on success."""
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    def _one(self, query: str, params: Sequence[Any] | dict[str, Any]) -> Job | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Job)) as cur:
            cur.execute(query, params)
            return cur.fetchone()

    # --- submission -----------------------------------------------------------------------

    def submit(
        self,
        conn: psycopg.Connection[Any],
        product_id: str,
        model: str,
        source: str,
        *,
        collection: str | None = None,
        model_card: str | None = None,
        force: bool = False,
    ) -> Submitted:
        """Create the job for (product, model); with ``force`` an existing one starts over.

        Without ``force`` an existing job is left alone, unless it failed on something other
        than its product (storage, lost workers): then it resumes at the stage it stopped in.
        """
        with conn.cursor(row_factory=class_row(Job)) as cur:
            cur.execute(
                "INSERT INTO kappacat.jobs"
                " (product_id, model, model_card, source, collection, force)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (product_id, model) DO NOTHING RETURNING *",
                (product_id, model, model_card, source, collection, force),
            )
            row = cur.fetchone()
            if row is not None:
                return Submitted(row, created=True)
            if force:
                cur.execute(
                    f"UPDATE kappacat.jobs SET {_RESET}, force = true, source = %s,"
                    " collection = coalesce(%s, collection), model_card = %s"
                    " WHERE product_id = %s AND model = %s RETURNING *",
                    (source, collection, model_card, product_id, model),
                )
            else:
                cur.execute(
                    "UPDATE kappacat.jobs SET status = 'queued', failure = NULL, recoveries = 0,"
                    " finished_at = NULL, source = %s, updated_at = now()"
                    " WHERE product_id = %s AND model = %s AND status = 'failed'"
                    " AND failure = ANY(%s) RETURNING *",
                    (source, product_id, model, list(RESUMABLE)),
                )
                if (resumed := cur.fetchone()) is not None:
                    return Submitted(resumed, created=False, resumed=True)
                cur.execute(
                    "SELECT * FROM kappacat.jobs WHERE product_id = %s AND model = %s",
                    (product_id, model),
                )
            existing = cur.fetchone()
        if existing is None:  # deleted between the two statements
            raise psycopg.errors.SerializationFailure(f"job of {product_id} vanished")
        return Submitted(existing, created=False, reset=force)

    def set_message(
        self, conn: psycopg.Connection[Any], job_id: int, message_id: str, stage: str
    ) -> None:
        """Record that ``message_id`` now runs the job's ``stage`` (in the caller's transaction)."""
        conn.execute(
            "UPDATE kappacat.jobs SET message_id = %s, stage = %s, status = 'queued',"
            " enqueued_at = now(), worker = NULL, lease_expires_at = NULL, updated_at = now()"
            " WHERE id = %s",
            (message_id, stage, job_id),
        )

    # --- running a stage --------------------------------------------------------------------

    def claim(
        self, job_id: int, message_id: str, stage: str, worker: str, lease_s: float
    ) -> Job | None:
        """Take the job for this message's stage; None if the message is stale or the job busy."""
        return self._one(
            "UPDATE kappacat.jobs SET status = 'running', worker = %(worker)s,"
            " lease_expires_at = now() + make_interval(secs => %(lease)s),"
            " attempts = attempts + 1, started_at = coalesce(started_at, now()),"
            " updated_at = now(), timings = timings || jsonb_build_object("
            "   %(stage)s || '_wait',"
            "   round(extract(epoch FROM now() - coalesce(enqueued_at, now()))::numeric, 3))"
            " WHERE id = %(id)s AND message_id = %(msg)s AND stage = %(stage)s"
            " AND (status = 'queued' OR (status = 'running' AND lease_expires_at < now()))"
            " RETURNING *",
            {"worker": worker, "lease": lease_s, "id": job_id, "msg": message_id, "stage": stage},
        )

    def renew(self, job_id: int, message_id: str, lease_s: float) -> bool:
        """Extend the lease of a running job; False if the job is no longer this message's."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                "UPDATE kappacat.jobs"
                " SET lease_expires_at = now() + make_interval(secs => %s), updated_at = now()"
                " WHERE id = %s AND message_id = %s AND status = 'running'",
                (lease_s, job_id, message_id),
            )
            return cur.rowcount == 1

    def advance(
        self,
        conn: psycopg.Connection[Any],
        job: Job,
        next_stage: str,
        next_message_id: str,
        *,
        timings: dict[str, float] | None = None,
        collection: str | None = None,
        product: dict[str, Any] | None = None,
        output: dict[str, Any] | None = None,
        output_href: str | None = None,
    ) -> bool:
        """Hand the job to its next stage (in the caller's transaction); False if it was lost.

        What the stage learnt (the collection, the product's metadata, what it stored) is kept;
        a value not given leaves its column as it is.
        """
        cur = conn.execute(
            "UPDATE kappacat.jobs SET stage = %(next_stage)s, status = 'queued',"
            " message_id = %(next_msg)s, enqueued_at = now(), worker = NULL,"
            " lease_expires_at = NULL, timings = timings || %(timings)s, updated_at = now(),"
            " collection = coalesce(%(collection)s, collection),"
            " product = coalesce(%(product)s, product),"
            " output = coalesce(%(output)s, output),"
            " output_href = coalesce(%(output_href)s, output_href)"
            " WHERE id = %(id)s AND message_id = %(msg)s AND status = 'running'",
            {
                "next_stage": next_stage,
                "next_msg": next_message_id,
                "timings": Jsonb(timings or {}),
                "collection": collection,
                "product": Jsonb(product) if product is not None else None,
                "output": Jsonb(output) if output is not None else None,
                "output_href": output_href,
                "id": job.id,
                "msg": job.message_id,
            },
        )
        return cur.rowcount == 1

    def hold(self, conn: psycopg.Connection[Any], job: Job) -> bool:
        """Lock the job's row while it is still this message's and running (False if not), so
        that what the caller's transaction does commits only together with the job's end."""
        row = conn.execute(
            "SELECT 1 FROM kappacat.jobs WHERE id = %s AND message_id = %s"
            " AND status = 'running' FOR UPDATE",
            (job.id, job.message_id),
        ).fetchone()
        return row is not None

    def finish(
        self,
        conn: psycopg.Connection[Any],
        job: Job,
        status: str,
        *,
        error: str | None = None,
        failure: str | None = None,
        timings: dict[str, float] | None = None,
        output_href: str | None = None,
    ) -> bool:
        """End the job as succeeded, failed or skipped; False if it was no longer this message's.

        A failed job keeps what it made (its product metadata and stored files) for a resume.
        """
        keep_item = status == "failed"
        cur = conn.execute(
            "UPDATE kappacat.jobs SET status = %s, stage = CASE WHEN %s = 'succeeded'"
            " THEN 'done' ELSE stage END, last_error = %s, failure = %s, worker = NULL,"
            " lease_expires_at = NULL, finished_at = now(), updated_at = now(),"
            " timings = timings || %s, output_href = coalesce(%s, output_href),"
            " output = CASE WHEN output IS NULL OR %s THEN output ELSE output - 'item' END"
            " WHERE id = %s AND message_id = %s AND status = 'running'",
            (
                status,
                status,
                error,
                failure,
                Jsonb(timings or {}),
                output_href,
                keep_item,
                job.id,
                job.message_id,
            ),
        )
        return cur.rowcount == 1

    def release(self, job: Job, error: str) -> bool:
        """Put a running job back to queued after a transient fault, before its retry."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                "UPDATE kappacat.jobs SET status = 'queued', worker = NULL,"
                " lease_expires_at = NULL, last_error = %s, updated_at = now()"
                " WHERE id = %s AND message_id = %s AND status = 'running'",
                (error, job.id, job.message_id),
            )
            return cur.rowcount == 1

    def fail(self, job: Job, error: str, failure: str = "input") -> bool:
        """Fail a running job with a message a person can act on, and why (:data:`FAILURES`)."""
        with self.transaction() as conn:
            return self.finish(conn, job, "failed", error=error, failure=failure)

    # --- recovery ---------------------------------------------------------------------------

    def lost(self, conn: psycopg.Connection[Any], limit: int = 1000) -> list[Job]:
        """Running jobs whose lease expired, locked for the caller's transaction."""
        with conn.cursor(row_factory=class_row(Job)) as cur:
            cur.execute(
                "SELECT * FROM kappacat.jobs WHERE status = 'running'"
                " AND lease_expires_at < now() ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (limit,),
            )
            return cur.fetchall()

    def waiting(
        self, conn: psycopg.Connection[Any], min_age_s: float, limit: int = 10000
    ) -> list[Job]:
        """Queued jobs whose message was sent at least ``min_age_s`` ago (not locked)."""
        with conn.cursor(row_factory=class_row(Job)) as cur:
            cur.execute(
                "SELECT * FROM kappacat.jobs WHERE status = 'queued'"
                " AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => %s))"
                " ORDER BY id LIMIT %s",
                (min_age_s, limit),
            )
            return cur.fetchall()

    def recover(
        self, conn: psycopg.Connection[Any], job: Job, message_id: str, *, lost_worker: bool
    ) -> bool:
        """Queue a job again under a new message, unless it changed since it was read."""
        cur = conn.execute(
            "UPDATE kappacat.jobs SET status = 'queued', message_id = %s, enqueued_at = now(),"
            " worker = NULL, lease_expires_at = NULL, updated_at = now(),"
            " recoveries = recoveries + %s"
            " WHERE id = %s AND message_id IS NOT DISTINCT FROM %s AND status = %s",
            (
                message_id,
                int(lost_worker),
                job.id,
                job.message_id,
                "running" if lost_worker else "queued",
            ),
        )
        return cur.rowcount == 1

    def fail_lost(self, conn: psycopg.Connection[Any], job: Job, error: str) -> None:
        """Fail a job that keeps losing its worker (in the caller's transaction)."""
        conn.execute(
            "UPDATE kappacat.jobs SET status = 'failed', failure = 'lost', last_error = %s,"
            " worker = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now()"
            " WHERE id = %s",
            (error, job.id),
        )

    # --- reading ----------------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        """One job by id."""
        return self._one("SELECT * FROM kappacat.jobs WHERE id = %s", (job_id,))

    def find(self, product_id: str, model: str) -> Job | None:
        """The job of (product, model), if any."""
        return self._one(
            "SELECT * FROM kappacat.jobs WHERE product_id = %s AND model = %s",
            (product_id, model),
        )

    def list_jobs(self, *, statuses: Sequence[str] = (), limit: int | None = 100) -> list[Job]:
        """Jobs, most recently changed first, optionally only some statuses."""
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Job)) as cur:
            cur.execute(
                "SELECT * FROM kappacat.jobs"
                " WHERE (cardinality(%s::text[]) = 0 OR status = ANY(%s::text[]))"
                " ORDER BY updated_at DESC, id DESC LIMIT %s",
                (list(statuses), list(statuses), limit),
            )
            return cur.fetchall()

    def counts(self) -> Counts:
        """Jobs per status."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM kappacat.jobs GROUP BY status"
            ).fetchall()
        return Counts({str(s): int(n) for s, n in rows})

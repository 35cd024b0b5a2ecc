"""Settings of the pipeline, one class per concern, each read from its own ``KAPPACAT_*`` prefix.

Nothing here is read at import: callers build a settings object when they need one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from catalog.settings import KappacatSettings

STAGES = ("fetch", "infer", "publish")
"""The pipeline's stages, in order; each has its own queue."""


class BrokerSettings(KappacatSettings):
    """The message broker, from ``KAPPACAT_BROKER_*``."""

    model_config = SettingsConfigDict(env_prefix="KAPPACAT_BROKER_")

    url: str = "redis://127.0.0.1:6379/0"
    """``redis://`` (or ``rediss://``) for Redis, ``amqp://`` (or ``amqps://``) for RabbitMQ."""
    queue_prefix: str = Field("kappacat", pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    """Queues are named ``<prefix>-fetch``, ``<prefix>-infer`` and ``<prefix>-publish``."""
    redis_namespace: str = "dramatiq"
    """Prefix of every Redis key the broker writes."""
    redis_heartbeat_timeout_s: float = Field(30.0, ge=1)
    """A Redis worker silent this long is taken as dead: the messages it held count as lost.
    Live workers beat about once a second, busy or not."""
    dead_message_ttl_s: int = Field(7 * 86400, ge=60)
    """How long messages whose retries ran out are kept in the dead-letter queues."""

    def queue_name(self, stage: str) -> str:
        """The queue of one stage (``fetch``, ``infer`` or ``publish``)."""
        return f"{self.queue_prefix}-{stage}"


class WorkerSettings(KappacatSettings):
    """Workers: leases, time limits, retries and recovery, from ``KAPPACAT_WORKER_*``."""

    model_config = SettingsConfigDict(env_prefix="KAPPACAT_WORKER_")

    lease_s: float = Field(30.0, gt=0)
    """A running job whose worker has not renewed its lease for this long is taken as lost.
    Workers renew it every quarter of this; the job of a killed worker is queued again at
    most ``lease_s + sweep_interval_s`` after the kill (45 s by default)."""
    sweep_interval_s: float = Field(15.0, ge=0)
    """How often each ``kappacat worker`` runs the recovery sweep (0: never). It queues again
    the jobs of lost workers and sends again the messages a restarted broker lost."""
    stale_queued_s: float = Field(900.0, gt=0)
    """A queued job whose message the broker cannot be asked about (RabbitMQ) is sent again
    when its queue is empty and it has waited this long."""
    max_recoveries: int = Field(3, ge=0)
    """A job whose worker was lost more often than this is failed (a product that kills it)."""
    max_retries: int = Field(5, ge=0)
    """Retries of a stage after a transient fault, with exponential backoff."""
    storage_max_retries: int = Field(20, ge=0)
    """Retries of a stage that could not write or read storage (read-only, full, unreachable):
    the operator's fault, not the product's. With the default backoff, about an hour."""
    min_backoff_ms: int = Field(5_000, ge=1)
    """First pause before a retry; each further retry waits about twice as long."""
    max_backoff_ms: int = Field(300_000, ge=1)
    """Longest pause between retries."""
    fetch_time_limit_s: float = Field(600.0, gt=0)
    """Longest a fetch stage may run (reading a product's metadata) before it is retried."""
    infer_time_limit_s: float = Field(1800.0, gt=0)
    """Longest an inference stage may run (a full product takes about a minute on 2 cores)."""
    publish_time_limit_s: float = Field(300.0, gt=0)
    """Longest a publish stage may run."""
    prefetch: int = Field(1, ge=1)
    """Messages a worker process holds per queue beyond those it is working on."""
    work_dir: Path | None = None
    """Scratch space for masks before they go to storage (the system's temp dir if unset)."""
    metrics_port: int = Field(9191, ge=0, le=65535)
    """Port of the metrics listener of ``kappacat worker`` (``/metrics``: the counts of all its
    processes, jobs by status and stage, queue depths); 0: no metrics."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics listener binds to: loopback unless configured (``0.0.0.0``: every
    interface, for a Prometheus on another host)."""
    log_format: Literal["json", "text"] = "json"
    """Worker logs as one JSON object a line (for log collectors) or as plain text."""
    db_pool_size: int = Field(4, ge=1)
    """Database connections each worker process keeps for the job table."""


class SubmitSettings(KappacatSettings):
    """Submission and discovery, from ``KAPPACAT_INGEST_*``."""

    model_config = SettingsConfigDict(env_prefix="KAPPACAT_INGEST_")

    model: str | None = None
    """Model card (name or file) new jobs use; the inference engine's default when unset."""
    max_queued: int = Field(500, ge=1)
    """Back-pressure: discovery waits while more jobs than this are queued or running."""
    poll_s: float = Field(5.0, gt=0)
    """How often a waiting discovery looks at the queue again."""


class FollowSettings(KappacatSettings):
    """Following a provider and backfilling (``kappacat discover --follow`` and ``--backfill``),
    from ``KAPPACAT_FOLLOW_*``."""

    model_config = SettingsConfigDict(env_prefix="KAPPACAT_FOLLOW_")

    interval_s: float = Field(300.0, gt=0)
    """Pause between two searches of a follower that found everything new."""
    cursor_field: Literal["auto", "updated", "created", "datetime"] = "auto"
    """Item property the cursor is on. ``auto``: ``updated``, else ``created``, when the
    provider can filter on it (it is among its queryables), else the sensing ``datetime``."""
    overlap_s: float = Field(900.0, ge=0)
    """How far back from its cursor a follower on ``updated``/``created`` searches again, for
    items a provider commits late; what it sees twice is not submitted twice."""
    datetime_overlap_s: float = Field(7 * 86400.0, ge=0)
    """The same for a cursor on the sensing ``datetime``: providers publish products hours to
    days after they were sensed."""
    min_backoff_s: float = Field(1.0, gt=0)
    """First pause while the queue is full or the provider is down; each next one is about
    twice as long (with jitter)."""
    max_backoff_s: float = Field(300.0, gt=0)
    """Longest pause while the queue is full or the provider is down."""
    backfill_window_days: int = Field(30, ge=1)
    """Length of the date windows a backfill walks in order (each one resumable)."""
    page_size: int = Field(100, ge=1, le=10000)
    """Items asked for per page of search results."""

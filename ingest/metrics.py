"""KappaCat's own Prometheus families of ``kappacat worker``, and the one place they are served.

Two kinds, one scrape target per worker host (:func:`serve`, run by the group's ``metrics``
process on ``KAPPACAT_WORKER_METRICS_HOST``:``KAPPACAT_WORKER_METRICS_PORT``):

- counted where the work happens, in every worker process, through prometheus_client's
  multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``, made by the command): seconds per stage,
  errors by the error policy's outcome (:mod:`ingest.policy`), products published, inference
  throughput; dramatiq's Prometheus middleware writes its message counts there too;
- read at scrape time by :class:`ScrapeCollector` from the record: jobs by status and stage,
  failed jobs by failure, the oldest queued job per stage (the job table, on its
  ``(status, stage)`` index), and queue depths (the broker). Each source is a :data:`Probe`; a
  source that cannot be read reports ``kappacat_metrics_source_up 0`` rather than failing the
  scrape. The discovery followers' lag (``kappacat discover --follow`` / ``--backfill``) is
  one such probe.

The counters are labelled, so their values are made in the process that counts, after the
command has named the directory (prometheus_client picks its multiprocess mode when first
imported: the command sets the variable before it imports this module).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ProbeTimeout
from datetime import UTC, datetime
from wsgiref.simple_server import WSGIServer

import dramatiq
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ingest.broker import backlog, dead_letters
from ingest.cursors import follow_lag
from ingest.jobs import ACTIVE, JobStore
from ingest.settings import STAGES, BrokerSettings

logger = logging.getLogger(__name__)

STAGE_SECONDS = Histogram(
    "kappacat_stage_seconds",
    "Seconds one stage of one job ran in a worker, by stage and result (ok or error).",
    ["stage", "result"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=None,
)
STAGE_FAILURES = Counter(
    "kappacat_stage_failures",
    "Errors a stage raised, by stage and by what the error policy made of them (reason: fail, "
    "fail-config, retry, retry-storage, stop, drop).",
    ["stage", "reason"],
    registry=None,
)
PUBLISHED = Counter(
    "kappacat_products_published",
    "Masks published into the catalogue, by collection.",
    ["collection"],
    registry=None,
)
INFERENCE_PIXELS = Counter(
    "kappacat_inference_pixels",
    "Mask pixels made by the model; rate() over rate(kappacat_inference_seconds_total) is "
    "its throughput in pixels per second.",
    ["model"],
    registry=None,
)
INFERENCE_SECONDS = Counter(
    "kappacat_inference_seconds",
    "Seconds spent making masks (reading bands, the model, writing the COG).",
    ["model"],
    registry=None,
)
INFERENCE_PRODUCTS = Counter(
    "kappacat_inference_products", "Products the model made a mask of.", ["model"], registry=None
)

Probe = Callable[[], Iterable[Metric]]
"""One source read at scrape time: the families it reports now."""


def job_probe(store: JobStore) -> Probe:
    """Jobs by status and stage, failed jobs by failure, the oldest queued job of each stage."""

    def probe() -> Iterable[Metric]:
        with store.pool.connection() as conn:
            by_stage = conn.execute(
                "SELECT status, stage, count(*) FROM kappacat.jobs GROUP BY status, stage"
            ).fetchall()
            failed = conn.execute(
                "SELECT coalesce(failure, 'unknown'), count(*) FROM kappacat.jobs"
                " WHERE status = 'failed' GROUP BY 1"
            ).fetchall()
            oldest = conn.execute(
                "SELECT stage, extract(epoch FROM now() - min(enqueued_at)) FROM kappacat.jobs"
                " WHERE status = 'queued' GROUP BY stage"
            ).fetchall()
        jobs = GaugeMetricFamily(
            "kappacat_jobs",
            "Jobs in the job table by status and stage.",
            labels=["status", "stage"],
        )
        counts = {(status, stage): 0 for status in ACTIVE for stage in STAGES}
        counts.update({(str(s), str(g)): int(n) for s, g, n in by_stage})
        for (status, stage), n in sorted(counts.items()):
            jobs.add_metric([status, stage], n)
        failures = GaugeMetricFamily(
            "kappacat_failed_jobs",
            "Failed jobs by why (input, config, transient, lost; see kappacat jobs).",
            labels=["failure"],
        )
        for failure, n in failed:
            failures.add_metric([str(failure)], int(n))
        age = GaugeMetricFamily(
            "kappacat_oldest_queued_job_age_seconds",
            "How long the longest-waiting queued job of each stage has waited (0: none waits).",
            labels=["stage"],
        )
        ages = dict.fromkeys(STAGES, 0.0)
        ages.update({str(stage): float(s or 0) for stage, s in oldest})
        for stage, seconds in ages.items():
            age.add_metric([stage], max(seconds, 0.0))
        return [jobs, failures, age]

    return probe


def follow_probe(store: JobStore) -> Probe:
    """Each follower's and backfill's lag, from its cursors: how old the newest product it has
    seen is, what it has submitted, and how long ago it last searched (a stopped follower's
    grows). The products waiting for a worker are ``kappacat_jobs{status="queued"}``."""

    def probe() -> Iterable[Metric]:
        lag = follow_lag(store)
        labels = ["kind", "source", "collections"]
        age = GaugeMetricFamily(
            "kappacat_follow_newest_product_age_seconds",
            "Age of the newest product a follower has seen (sensing time to now).",
            labels=labels,
        )
        submitted = GaugeMetricFamily(
            "kappacat_follow_submitted_products",
            "Products a follower or backfill has submitted as jobs.",
            labels=labels,
        )
        searched = GaugeMetricFamily(
            "kappacat_follow_last_search_age_seconds",
            "Seconds since a follower or backfill last searched its provider.",
            labels=labels,
        )
        now = datetime.now(UTC)
        for follower in lag.followers:
            key = [follower.kind, follower.stac_url, ",".join(follower.collections)]
            submitted.add_metric(key, follower.submitted)
            if follower.newest_age_s is not None:
                age.add_metric(key, follower.newest_age_s)
            if follower.polled_at is not None:
                searched.add_metric(key, (now - follower.polled_at).total_seconds())
        return [age, submitted, searched]

    return probe


def queue_probe(broker: dramatiq.Broker, settings: BrokerSettings) -> Probe:
    """Messages waiting in each stage's queue and in its dead-letter queue, from the broker."""

    def probe() -> Iterable[Metric]:
        waiting = GaugeMetricFamily(
            "kappacat_queue_messages",
            "Messages waiting in a stage's queue and its delay queue (not yet handed out).",
            labels=["queue", "stage"],
        )
        dead = GaugeMetricFamily(
            "kappacat_queue_dead_messages",
            "Messages in a stage's dead-letter queue (retries exhausted).",
            labels=["queue", "stage"],
        )
        for stage in STAGES:
            name = settings.queue_name(stage)
            waiting.add_metric([name, stage], backlog(broker, name))
            dead.add_metric([name, stage], dead_letters(broker, name))
        return [waiting, dead]

    return probe


class ScrapeCollector(Collector):
    """Reads every probe at each scrape; a probe that fails reports its source as down.

    The probes run one at a time in one thread of their own: the exposition server answers
    each scrape in a new thread, and dramatiq's RabbitMQ broker opens a connection per thread.
    """

    def __init__(self, probes: dict[str, Probe], timeout_s: float = 10.0) -> None:
        self.probes = probes
        self.timeout_s = timeout_s
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-probe")

    def collect(self) -> Iterable[Metric]:
        """The probes' families and whether each source could be read."""
        up = GaugeMetricFamily(
            "kappacat_metrics_source_up",
            "Whether a source of the scrape-time metrics (jobs, queues) answered this scrape.",
            labels=["source"],
        )
        families: list[Metric] = []
        for name, probe in self.probes.items():
            try:
                families.extend(self._thread.submit(_read, probe).result(timeout=self.timeout_s))
                up.add_metric([name], 1)
            except ProbeTimeout:
                logger.warning("metrics: the %s did not answer in %.0f s", name, self.timeout_s)
                up.add_metric([name], 0)
            except Exception as exc:  # a scrape must not fail with one of its sources
                logger.warning("metrics: cannot read the %s: %s", name, exc)
                up.add_metric([name], 0)
        return [*families, up]


def _read(probe: Probe) -> list[Metric]:
    return list(probe())


def registry(multiprocess_dir: str, probes: dict[str, Probe]) -> CollectorRegistry:
    """What the worker host's ``/metrics`` serves: every process's counts and the probes."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=multiprocess_dir)
    registry.register(ScrapeCollector(probes))
    return registry


def serve(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    """Serve ``registry`` at ``http://host:port/metrics`` from a background thread."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    logger.info("metrics at http://%s:%d/metrics", host, server.server_port)
    return server

"""What an operator's Prometheus scrapes: the real API, tiler and worker group, each on its own
loopback listener, after real requests and real jobs."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import rasterio
from prometheus_client.parser import text_string_to_metric_families

from catalog.settings import DatabaseSettings
from ingest.settings import BrokerSettings
from tests.ingest.conftest import Workers, kappacat
from tests.ingest.helpers import items, wait_done, wait_for, write_products
from tests.servers import free_port, serve, serve_process, worker_pids

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EnvFactory = Callable[..., dict[str, str]]
WorkersFactory = Callable[[dict[str, str]], Workers]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    """Every sample of ``http://127.0.0.1:PORT/metrics``, parsed as Prometheus parses it."""
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    assert answer.status_code == 200, answer.text
    found: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def names(samples: Samples) -> set[str]:
    return {n for n, _ in samples}


def listens_on_loopback_only(port: int) -> bool:
    """Whether the only sockets listening on ``port`` are bound to 127.0.0.1 (/proc/net/tcp*)."""
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # LISTEN
                addresses.append(address)
    return addresses == ["0100007F"]


def test_api_tiler_and_workers_count_what_they_did_across_their_processes(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    tmp_path: Path,
) -> None:
    good = write_products(tmp_path / "good", 2)
    (broken,) = write_products(tmp_path / "bad", 1, start=5)
    next(broken.path.rglob("*_B04.jp2")).unlink()  # a band missing: bad input, failed at fetch
    storage = tmp_path / "storage"
    storage.mkdir()
    api_metrics, tiler_metrics = free_port(), free_port()
    api_env = {
        "KAPPACAT_DATABASE_URL": database.url,
        "KAPPACAT_API_ASSETS_DIR": str(storage),
        "KAPPACAT_API_METRICS_PORT": str(api_metrics),
        "KAPPACAT_API_METRICS_DIR": str(tmp_path / "api-metrics"),
    }
    tiler_env = {
        "KAPPACAT_DATABASE_URL": database.url,
        "KAPPACAT_STORAGE_URL": str(storage),
        "KAPPACAT_TILER_METRICS_PORT": str(tiler_metrics),
    }
    with (
        serve_process("api", api_env, "/_mgmt/health") as (api, supervisor),
        serve("tiler", tiler_env, "/healthz") as tiler,
    ):
        env = pipeline_env(
            redis_broker,
            KAPPACAT_STORAGE_URL=str(storage),
            KAPPACAT_STORAGE_PUBLIC_URL=f"{api}/assets",
        )
        submitted = kappacat(env, "ingest", *(str(p.path) for p in [*good, broken]))
        assert submitted.returncode == 0, submitted.stderr

        # A worker group that takes only publishing: the three fetch messages stay queued.
        waiting_port = free_port()
        waiting = workers(env).start(
            "--processes",
            "1",
            "--queues",
            "publish",
            KAPPACAT_WORKER_METRICS_PORT=str(waiting_port),
        )
        queued = wait_for(lambda: _jobs_seen(waiting_port), "the worker metrics", timeout=60)
        assert value(queued, "kappacat_queue_messages", stage="fetch") == 3
        assert value(queued, "kappacat_queue_messages", stage="infer") == 0
        assert value(queued, "kappacat_jobs", status="queued", stage="fetch") == 3
        assert value(queued, "kappacat_oldest_queued_job_age_seconds", stage="fetch") > 0
        assert value(queued, "kappacat_metrics_source_up", source="jobs") == 1
        assert value(queued, "kappacat_metrics_source_up", source="broker") == 1
        assert listens_on_loopback_only(waiting_port)
        os.killpg(waiting.pid, signal.SIGTERM)
        waiting.wait(timeout=60)

        # Two worker processes do everything; the host's scrape sums what both counted.
        pool = workers(env)
        worker_metrics = free_port()
        pool.start("--processes", "2", KAPPACAT_WORKER_METRICS_PORT=str(worker_metrics))
        done = wait_done(database, 3, timeout=300, logs=pool.logs)
        assert sorted(j.status for j in done) == ["failed", "succeeded", "succeeded"]
        worker = scrape(worker_metrics)
        assert value(worker, "kappacat_products_published_total") == 2
        assert value(worker, "kappacat_stage_failures_total", stage="fetch", reason="fail") == 1
        assert value(worker, "kappacat_failed_jobs", failure="input") == 1
        assert value(worker, "kappacat_jobs", status="succeeded", stage="done") == 2
        assert value(worker, "kappacat_jobs", status="failed", stage="fetch") == 1
        assert value(worker, "kappacat_queue_messages") == 0
        assert value(worker, "kappacat_stage_seconds_count", stage="infer", result="ok") == 2
        assert value(worker, "kappacat_stage_seconds_count", stage="fetch", result="error") == 1
        masks = [i["assets"]["mask"]["href"] for i in items(database)]
        pixels = 0
        for href in masks:
            with rasterio.open(href) as cog:
                pixels += cog.width * cog.height
        assert value(worker, "kappacat_inference_products_total") == 2
        assert value(worker, "kappacat_inference_pixels_total") == pixels
        assert value(worker, "kappacat_inference_seconds_total") > 0
        assert "dramatiq_messages_total" in names(worker)
        assert listens_on_loopback_only(worker_metrics)

        # Requests, counted by route and status over both processes of each service.
        with ThreadPoolExecutor(5) as pool_of_callers:  # new connections, to either process
            answers = list(pool_of_callers.map(httpx.get, [f"{api}/collections"] * 10))
        assert [a.status_code for a in answers] == [200] * 10
        assert httpx.get(f"{api}/collections/no-such-collection").status_code == 404
        assert httpx.get(f"{tiler}/legend").status_code == 200
        missing = f"{tiler}/collections/no-such-collection/items/x/WebMercatorQuad/tilejson.json"
        assert httpx.get(missing).status_code == 404
        api_samples = scrape(api_metrics)
        total = "http_requests_total"
        assert value(api_samples, total, handler="/collections", method="GET", status="200") == 10
        # A worker process that served requests dies and is replaced: its counts stay summed.
        served = {int(f.stem.rsplit("_", 1)[1]) for f in (tmp_path / "api-metrics").glob("*.db")}
        victim = next(iter(served & worker_pids(supervisor.pid)))
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: victim not in (now := worker_pids(supervisor.pid)) and len(now) == 2,
            "the killed API worker to be replaced",
            timeout=60,
        )
        assert httpx.get(f"{api}/collections").status_code == 200
        api_samples = scrape(api_metrics)
        assert value(api_samples, total, handler="/collections", method="GET", status="200") == 11
        assert value(api_samples, total, handler="/collections/{collection_id}", status="404") == 1
        tiler_samples = scrape(tiler_metrics)
        assert value(tiler_samples, total, handler="/legend", status="200") == 1
        tilejson = "/collections/{collection_id}/items/{item_id}/{tileMatrixSetId}/tilejson.json"
        assert value(tiler_samples, total, handler=tilejson, status="404") == 1
        assert value(tiler_samples, "http_request_duration_seconds_count", handler="/legend") == 1
        # Only on the metrics listeners, which only loopback reaches: not on the public ports.
        assert httpx.get(f"{api}/metrics").status_code == 404
        assert httpx.get(f"{tiler}/metrics").status_code == 404
        assert listens_on_loopback_only(api_metrics)
        assert listens_on_loopback_only(tiler_metrics)


def _jobs_seen(port: int) -> Samples | None:
    """The worker host's samples once its listener answers with the job table's counts."""
    try:
        samples = scrape(port)
    except httpx.TransportError:
        return None
    return samples if value(samples, "kappacat_jobs") else None

"""Pipeline throughput: products per hour for N worker processes, and the queue overhead.

Runs the real thing: a fresh database migrated by ``kappacat migrate``, generated Sentinel-2
products (full size by default, cached in ``bench/.cache``), ``kappacat worker`` processes on
Redis (or ``--broker``), submission with ``kappacat ingest``. Reports:

- products/hour: products / (last job finished - first job submitted) x 3600, with the
  workers already started;
- per product: the work (fetch, inference stage incl. reading, model, COG writing and upload,
  publishing) and the overhead: worker time spent on none of it, per product;
- the shortest wait of a job between its stages (a hand-off through the broker to a free
  worker);
- peak resident memory of each worker process.

Example::

    .venv/bin/python bench/bench_pipeline.py --workers 2 --products 4
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from catalog.collections import collection_dicts  # noqa: E402
from catalog.settings import DatabaseSettings, with_database  # noqa: E402
from ingest.jobs import Job, JobStore  # noqa: E402
from ingest.publish import upsert_collections  # noqa: E402
from kappacat.migrate import migrate  # noqa: E402

CACHE = REPO / "bench" / ".cache"
RESULTS = REPO / "bench" / "results"
WORK = ("fetch", "infer_stage", "publish")
READY = re.compile(r"ingest\.worker: worker \S+ ready")


def products(size: int, count: int) -> list[Path]:
    """``count`` generated SAFE products of ``size`` px, made once and cached."""
    from inference.sample import write_sample_product

    out = CACHE / f"products-{size}"
    found = []
    for n in range(count):
        marker = out / f"product-{n}.path"
        if marker.exists() and Path(marker.read_text()).exists():
            found.append(Path(marker.read_text()))
            continue
        print(f"generating product {n + 1}/{count} ({size} px)...", flush=True)
        product = write_sample_product(
            out, size=size, seed=n, date=date(2023, 6, 1) + timedelta(days=n)
        )
        marker.write_text(str(product.path))
        found.append(product.path)
    return found


def peak_rss_mb(pid: int) -> dict[int, float]:
    """Peak resident memory (VmHWM) of the children of ``pid``, in MB."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    peaks = {}
    for child in out.stdout.split():
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[int(child)] = int(line.split()[1]) / 1024
    return peaks


def summarize(jobs: list[Job], wall_s: float, workers: int) -> dict[str, Any]:
    """Throughput, and per product the work and the overhead around it.

    Work is what a product needs whatever the queueing: the fetch stage (metadata), the
    inference stage (reading bands, the model, COG and thumbnail writing, upload) and the
    publish stage (item upsert with the job's success). The overhead is the worker time
    that went to none of it: ``(workers x wall - sum of work) / products`` (hand-offs through
    the broker, claims and leases, idle polling, workers idle at the end of the run).
    """
    per_job = []
    for job in jobs:
        assert job.started_at and job.finished_at
        work = sum(float(job.timings.get(k, 0.0)) for k in WORK)
        handoffs = sum(float(job.timings.get(k, 0.0)) for k in ("infer_wait", "publish_wait"))
        per_job.append(
            {
                "product": job.product_id,
                "span_s": round((job.finished_at - job.started_at).total_seconds(), 2),
                "work_s": round(work, 2),
                "handoff_waits_s": round(handoffs, 3),
                "timings": job.timings,
            }
        )
    total_work = sum(j["work_s"] for j in per_job)
    return {
        "workers": workers,
        "products": len(jobs),
        "wall_s": round(wall_s, 1),
        "products_per_hour": round(len(jobs) / wall_s * 3600, 1),
        "work_s_mean": round(total_work / len(jobs), 2),
        "overhead_s_per_product": round((workers * wall_s - total_work) / len(jobs), 2),
        "handoff_waits_s_min": min(j["handoff_waits_s"] for j in per_job),
        "jobs": per_job,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker process")
    parser.add_argument("--products", type=int, default=2, help="products to process")
    parser.add_argument("--size", type=int, default=10980, help="product size in 10 m pixels")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--timeout", type=float, default=3 * 3600)
    args = parser.parse_args()

    paths = products(args.size, args.products)
    name = f"kappacat_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(args.admin_url, name)
    storage = CACHE / f"storage-{name}"
    env = {
        **os.environ,
        "KAPPACAT_DATABASE_URL": url,
        "KAPPACAT_BROKER_URL": args.broker,
        "KAPPACAT_BROKER_QUEUE_PREFIX": name,
        "KAPPACAT_BROKER_REDIS_NAMESPACE": name,
        "KAPPACAT_STORAGE_URL": str(storage),
        "KAPPACAT_WORKER_METRICS_PORT": "0",
        "KAPPACAT_WORKER_LOG_FORMAT": "text",
    }
    worker = None
    try:
        migrate(DatabaseSettings(url=url))
        upsert_collections(url, collection_dicts())
        log = (CACHE / f"{name}-workers.log").open("wb")
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kappacat",
                "worker",
                "--processes",
                str(args.workers),
                "--threads",
                str(args.threads),
            ],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logfile = CACHE / f"{name}-workers.log"
        deadline = time.monotonic() + 120
        # each worker process logs "worker <name> ready" once it takes messages
        while len(READY.findall(logfile.read_text())) < args.workers:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"workers did not start; see {logfile}")
            time.sleep(0.5)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "kappacat", "ingest", *map(str, paths)],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        with JobStore(url) as store:
            while True:
                counts = store.counts()
                if counts.total == len(paths) and counts.active == 0:
                    break
                if time.monotonic() - started > args.timeout:
                    raise SystemExit(f"timed out; jobs: {counts.by_status}")
                time.sleep(1)
            wall = time.monotonic() - started
            jobs = store.list_jobs(limit=None)
        failed = [j for j in jobs if j.status != "succeeded"]
        if failed:
            raise SystemExit(f"{len(failed)} job(s) failed: {failed[0].last_error}")
        result = summarize(jobs, wall, args.workers)
        result["peak_rss_mb"] = peak_rss_mb(worker.pid)
        result["size"] = args.size
        result["threads"] = args.threads
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"pipeline-{time.strftime('%Y%m%dT%H%M%S')}.json"
        out.write_text(json.dumps(result, indent=2, default=str))
        print(json.dumps({k: v for k, v in result.items() if k != "jobs"}, indent=2))
        print(f"per job details: {out}")
        return 0
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=120)
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if args.broker.startswith("redis"):
            client = redis.Redis.from_url(args.broker)
            keys = list(client.scan_iter(f"{name}:*"))
            if keys:
                client.delete(*keys)
        subprocess.run(["rm", "-rf", str(storage)], check=False)


if __name__ == "__main__":
    raise SystemExit(main())

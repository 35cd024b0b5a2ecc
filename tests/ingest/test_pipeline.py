"""The pipeline end to end: real worker processes, real brokers, real database and storage."""

from __future__ import annotations

import json
import os
import signal
import zipfile
from pathlib import Path

import httpx
import pytest
import rasterio
from pystac_client import Client

from catalog.collections import L1C
from catalog.settings import DatabaseSettings
from catalog.stac_validation import StacValidator
from ingest.broker import dead_letters, make_broker
from ingest.jobs import Job
from ingest.pipeline import SourceRef
from ingest.publish import upsert_collections
from ingest.settings import BrokerSettings
from ingest.sources import expand
from tests.httpfiles import serve_directory
from tests.ingest.conftest import (
    S3_ENV,
    EnvFactory,
    PrivateRedis,
    S3Server,
    WorkersFactory,
    ingest,
    kappacat,
)
from tests.ingest.helpers import (
    absolute_item,
    assert_valid_cog,
    items,
    jobs,
    published,
    started_processes,
    wait_done,
    wait_for,
    write_products,
)
from tests.servers import free_port, serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOURCE_COLLECTION = "sentinel-2-l1c"


@pytest.fixture(scope="module")
def validator(shared_data: Path) -> StacValidator:
    return StacValidator(shared_data / "stac-schemas")


def source_collection() -> dict[str, object]:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": SOURCE_COLLECTION,
        "description": "Sentinel-2 Level-1C products (generated for tests)",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [["2015-06-27T00:00:00Z", None]]},
        },
        "links": [],
    }


def test_discover_from_a_stac_api_with_two_workers(
    database: DatabaseSettings,
    amqp_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    validator: StacValidator,
    tmp_path: Path,
) -> None:
    """Discover on the source API, two workers on RabbitMQ: each product once, searchable."""
    from pypgstac.load import Loader, Methods

    from catalog.db import pgstac_db

    products = write_products(tmp_path / "source", 3, fmt="stac")
    upsert_collections(database.url, [source_collection()])
    with pgstac_db(database.url) as db:
        Loader(db=db).load_items(
            iter(absolute_item(p.path, SOURCE_COLLECTION) for p in products),
            insert_mode=Methods.upsert,
        )
    storage = tmp_path / "storage"
    storage.mkdir()
    api_env = {"KAPPACAT_DATABASE_URL": database.url, "KAPPACAT_API_ASSETS_DIR": str(storage)}
    metrics_port = free_port()
    with serve("api", api_env, "/_mgmt/health") as api:
        env = pipeline_env(
            amqp_broker,
            KAPPACAT_STORAGE_URL=str(storage),
            KAPPACAT_STORAGE_PUBLIC_URL=f"{api}/assets",
        )
        pool = workers(env)
        pool.start("--processes", "1", KAPPACAT_WORKER_METRICS_PORT=str(metrics_port))
        pool.start("--processes", "1")
        proc = kappacat(
            env,
            "discover",
            "--stac-url",
            api,
            "--collection",
            SOURCE_COLLECTION,
            "--aoi",
            "europe",
            "--datetime",
            "2023-01-01T00:00:00Z/2023-12-31T23:59:59Z",
            "--max-cloud",
            "100",
            "--limit",
            "10",
            "--max-queued",
            "2",  # back-pressure: the third product waits until one of the first is done
        )
        assert proc.returncode == 0, proc.stderr
        assert "found 3 product(s): 3 submitted" in proc.stdout
        assert "waiting for the queue to drain" in proc.stdout
        done = wait_done(database, 3, logs=pool.logs)
        assert [j.status for j in done] == ["succeeded"] * 3, [j.last_error for j in done]
        # Two worker groups on one queue: each product was made and published exactly once.
        assert published(pool.logs()) == {p.product_id: 1 for p in products}

        # A STAC item URL is a source too: the same product, the same job.
        url = f"{api}/collections/{SOURCE_COLLECTION}/items/{products[0].product_id}"
        assert list(expand(url)) == [SourceRef(products[0].product_id, url, L1C)]

        # Discovering again submits nothing new.
        again = kappacat(env, "discover", "--stac-url", api, "--collection", SOURCE_COLLECTION)
        assert "3 already known" in again.stdout, again.stdout + again.stderr

        found = list(Client.open(api).search(collections=[L1C], max_items=100).items_as_dicts())
        assert sorted(i["id"] for i in found) == sorted(p.product_id for p in products)
        assert len({i["id"] for i in found}) == len(found) == 3
        for item in found:
            validator.validate(item)
            href = item["assets"]["mask"]["href"]
            assert href.startswith(f"{api}/assets/")
            assert_valid_cog(href)
            assert httpx.get(item["assets"]["thumbnail"]["href"]).status_code == 200
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).text
        assert "dramatiq_messages_total" in metrics
        # RabbitMQ answers the scrape's queue depths: nothing left waiting.
        assert 'kappacat_metrics_source_up{source="broker"} 1.0' in metrics
        fetch = f'kappacat_queue_messages{{queue="{amqp_broker.queue_prefix}-fetch",stage="fetch"}}'
        assert f"{fetch} 0.0" in metrics
        listing = kappacat(env, "jobs", "--json")
        assert '"succeeded": 3' in listing.stdout


def test_a_worker_process_killed_mid_job_is_replaced_and_loses_nothing(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    tmp_path: Path,
) -> None:
    """SIGKILL one process of ``--processes 2``: the group lives on, the process is replaced,
    the job it ran is finished by another, and every product is published exactly once."""
    products = write_products(tmp_path / "source", 3)
    env = pipeline_env(redis_broker)
    pool = workers(env)
    group = pool.start("--processes", "2")
    ingest(env, *(p.path for p in products[:2]))

    def running_infer() -> Job | None:
        return next(
            (j for j in jobs(database) if j.status == "running" and j.stage == "infer"), None
        )

    victim = wait_for(running_infer, "a job in inference", timeout=60, interval=0.02)
    original = started_processes(pool.logs())
    assert sorted(original) == ["sweep", "worker-1", "worker-2"]
    killed = int(str(victim.worker).rsplit(":", 1)[1])
    os.kill(killed, signal.SIGKILL)
    done = wait_done(database, 2, timeout=120, logs=pool.logs)
    assert [j.status for j in done] == ["succeeded"] * 2, [j.last_error for j in done]
    assert next(j for j in done if j.id == victim.id).recoveries == 1
    assert group.poll() is None, "the worker group ended"
    (name,) = [n for n, pid in original.items() if pid == killed]
    wait_for(
        lambda: started_processes(pool.logs())[name] != killed,
        "the killed process to be replaced",
        timeout=30,
    )
    # Kill the other original worker too (idle now): a product sent afterwards can only be
    # made by processes the group started in place of the dead ones.
    (other,) = {"worker-1", "worker-2"} - {name}
    os.kill(original[other], signal.SIGKILL)
    wait_for(
        lambda: started_processes(pool.logs())[other] != original[other],
        "the second process to be replaced",
        timeout=30,
    )
    now = started_processes(pool.logs())
    assert set(pool.children(group)) == set(now.values())
    assert not set(now.values()) & {killed, original[other]}
    ingest(env, products[2].path)
    done = wait_done(database, 3, timeout=120, logs=pool.logs)
    assert [j.status for j in done] == ["succeeded"] * 3, [j.last_error for j in done]
    assert sorted(i["id"] for i in items(database)) == sorted(p.product_id for p in products)
    assert published(pool.logs()) == {p.product_id: 1 for p in products}
    assert "was killed by SIGKILL" in pool.logs()


def test_redis_restarted_mid_run_then_reconcile_finishes_every_job(
    database: DatabaseSettings,
    private_redis: PrivateRedis,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    tmp_path: Path,
) -> None:
    """Redis loses every message when restarted; ``kappacat reconcile`` sends them again."""
    products = write_products(tmp_path / "source", 3)
    broker = BrokerSettings(url=private_redis.url, queue_prefix="kc", redis_namespace="kc")
    env = pipeline_env(broker, KAPPACAT_WORKER_SWEEP_INTERVAL_S="0")
    pool = workers(env)
    pool.start("--processes", "1")
    ingest(env, *(p.path for p in products))
    wait_for(lambda: any(j.status == "succeeded" for j in jobs(database)), "a first success")
    private_redis.stop()
    private_redis.start()
    proc = kappacat(env, "reconcile", "--min-age", "0")
    assert proc.returncode == 0, proc.stderr
    done = wait_done(database, 3, logs=pool.logs)
    assert [j.status for j in done] == ["succeeded"] * 3, [j.last_error for j in done]
    assert len(items(database)) == 3


def test_bad_input_fails_with_its_message_and_good_input_goes_through(
    database: DatabaseSettings,
    amqp_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    tmp_path: Path,
) -> None:
    """Corrupt zips, unsafe ids, impossible sizes, a missing band... fail at once, and alone."""
    good = write_products(tmp_path / "good", 2)
    (broken_band,) = write_products(tmp_path / "bad", 1, start=5)
    band = next(broken_band.path.rglob("*_B04.jp2"))
    band.unlink()
    corrupt = tmp_path / "S2A_MSIL1C_20230610T103631_N0509_R008_T32UQD_20230610T124851.zip"
    with zipfile.ZipFile(corrupt, "w") as zf:
        zf.writestr("README", "not a product")
    corrupt.write_bytes(corrupt.read_bytes()[:40])
    (stac,) = write_products(tmp_path / "stac", 1, fmt="stac", start=6)
    base = json.loads(stac.path.read_text())
    unsafe = {
        "traversal-id": dict(base, id="../../../tmp/S2B_MSIL1C_escape"),
        "traversal-tile": dict(
            base,
            id="S2B_MSIL1C_20230607T103629_N0509_R008_T32UQD_20230607T112342",
            properties={
                **{k: v for k, v in base["properties"].items() if not k.startswith("mgrs:")},
                "grid:code": "MGRS-../../32UQD",
            },
        ),
    }
    huge = dict(base, id="S2B_MSIL1C_20230608T103629_N0509_R008_T32UQD_20230608T112342")
    huge["assets"] = {key: dict(asset) for key, asset in base["assets"].items()}
    with rasterio.open(huge["assets"]["blue"]["href"]) as ds:
        profile = ds.profile
    for key in ("blue", "green", "red", "nir"):  # 200 000 px a side, declared, never written
        huge["assets"][key]["href"] = str(tmp_path / f"huge-{key}.tif")
        profile.update(width=200_000, height=200_000, blockxsize=4096, blockysize=4096)
        with rasterio.open(huge["assets"][key]["href"], "w", **profile, SPARSE_OK=True):
            pass
    unsafe["huge"] = huge
    item_files = []
    for name, item in unsafe.items():
        path = stac.path.parent / f"{name}.json"
        path.write_text(json.dumps(item))
        item_files.append(path)
    landsat = tmp_path / "landsat.json"
    landsat.write_text(
        '{"type": "Feature", "stac_version": "1.1.0", "id": "LC09_L1TP_193027_20230601",'
        ' "geometry": null, "properties": {"datetime": "2023-06-01T10:00:00Z",'
        ' "platform": "landsat-9"}, "links": [], "assets": {}}'
    )
    env = pipeline_env(amqp_broker)
    pool = workers(env)
    worker = pool.start("--processes", "1")
    ingest(env, *(p.path for p in good), broken_band.path, corrupt, landsat, *item_files)
    done = {j.product_id: j for j in wait_done(database, 8, logs=pool.logs)}
    for product in good:
        assert done[product.product_id].status == "succeeded"
    failures = {
        broken_band.product_id: "B04",
        corrupt.stem: "corrupt archive",
        "LC09_L1TP_193027_20230601": "Sentinel-2",
        unsafe["traversal-id"]["id"]: "product id '../../../tmp/S2B_MSIL1C_escape' is not allowed",
        unsafe["traversal-tile"]["id"]: "MGRS tile '../../32UQD'",
        huge["id"]: "declares 200000 x 200000 px",
    }
    for product_id, words in failures.items():
        job = done[product_id]
        assert (job.status, job.failure) == ("failed", "input"), job
        assert words.lower() in (job.last_error or "").lower(), job.last_error
        assert job.attempts == 1  # bad input is never retried
    assert worker.poll() is None and pool.children(worker), "the worker died"
    assert len(items(database)) == 2
    listing = kappacat(env, "jobs", "--status", "failed")
    assert "error:" in listing.stdout and "6 failed" in listing.stdout
    assert not (tmp_path / "tmp").exists() and not Path("/tmp/S2B_MSIL1C_escape").exists()
    assert "submitted 0 of 1" in ingest(env, corrupt)  # bad input waits for --force


def test_same_product_twice_is_one_job_and_force_replaces_the_item(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    tmp_path: Path,
) -> None:
    (product,) = write_products(tmp_path / "source", 1)
    env = pipeline_env(redis_broker)
    pool = workers(env)
    pool.start("--processes", "1")
    assert "submitted 1 of 1" in ingest(env, product.path)
    (job,) = wait_done(database, 1, logs=pool.logs)
    assert job.status == "succeeded"
    assert "submitted 0 of 1" in ingest(env, product.path)
    (before,) = items(database)

    assert "submitted 1 of 1" in ingest(env, product.path, force=True)
    watch = kappacat(env, "jobs", "--watch", "--interval", "0.3", timeout=120)
    assert watch.returncode == 0 and "1 succeeded" in watch.stdout, watch.stdout + watch.stderr
    (again,) = jobs(database)
    assert again.id == job.id and again.status == "succeeded"
    (after,) = items(database)
    assert after["id"] == before["id"]
    assert after["properties"]["processing:datetime"] >= before["properties"]["processing:datetime"]
    assert after["assets"]["mask"]["href"] == before["assets"]["mask"]["href"]


def test_s3_storage_and_split_queues(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    """Masks go to an S3 server; one worker only infers, the other fetches and publishes."""
    bucket = "kappacat-masks-" + redis_broker.queue_prefix.lower()
    s3_server.bucket(bucket)
    products = write_products(tmp_path / "source", 2)
    public = f"{s3_server.endpoint}/{bucket}/masks"
    env = pipeline_env(
        redis_broker,
        KAPPACAT_STORAGE_URL=f"s3://{bucket}/masks",
        KAPPACAT_STORAGE_S3_ENDPOINT_URL=s3_server.endpoint,
        KAPPACAT_STORAGE_PUBLIC_URL=public,
        **S3_ENV,
    )
    pool = workers(env)
    pool.start("--queues", "infer", "--processes", "1")
    pool.start("--queues", "fetch,publish", "--processes", "1")
    ingest(env, *(p.path for p in products))
    done = wait_done(database, 2, logs=pool.logs)
    assert [j.status for j in done] == ["succeeded"] * 2, [j.last_error for j in done]
    published_items = items(database)
    assert sorted(i["id"] for i in published_items) == sorted(p.product_id for p in products)
    for item in published_items:
        href = item["assets"]["mask"]["href"]
        assert href.startswith(public + "/")
        assert_valid_cog(href)
        response = httpx.get(href, timeout=10)
        assert response.status_code == 200
        assert len(response.content) == item["assets"]["mask"]["file:size"]


def test_storage_that_stays_broken_fails_the_job_and_a_plain_ingest_resumes_it(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    """A bucket that does not exist: retried with backoff, then failed as the storage's fault;
    once the bucket is there, ``kappacat ingest`` (no --force) resumes it at inference."""
    (product,) = write_products(tmp_path / "source", 1)
    bucket = "kappacat-late-" + redis_broker.queue_prefix.lower()
    env = pipeline_env(
        redis_broker,
        KAPPACAT_STORAGE_URL=f"s3://{bucket}/masks",
        KAPPACAT_STORAGE_S3_ENDPOINT_URL=s3_server.endpoint,
        KAPPACAT_STORAGE_PUBLIC_URL=f"{s3_server.endpoint}/{bucket}/masks",
        KAPPACAT_WORKER_STORAGE_MAX_RETRIES="2",
        **S3_ENV,
    )
    pool = workers(env)
    worker = pool.start("--processes", "1")
    ingest(env, product.path)
    (job,) = wait_done(database, 1, logs=pool.logs)
    assert (job.status, job.stage, job.failure) == ("failed", "infer", "transient")
    error = job.last_error or ""
    assert "StorageError" in error and "gave up after 3 attempts" in error, error
    assert "ingest it again to resume" in error
    assert job.attempts == 4  # fetch once, inference three times
    broker = make_broker(redis_broker)
    try:
        assert dead_letters(broker, redis_broker.queue_name("infer")) == 1
    finally:
        broker.close()
    assert worker.poll() is None
    assert items(database) == []

    s3_server.bucket(bucket)  # the operator fixes the storage
    assert "resumed at infer" in ingest(env, product.path)
    (job,) = wait_done(database, 1, logs=pool.logs)
    assert job.status == "succeeded", job.last_error
    assert job.attempts == 6  # no new fetch: the job went on where it stopped
    (item,) = items(database)
    assert item["id"] == product.product_id
    assert_valid_cog(item["assets"]["mask"]["href"])
    assert "submitted 0 of 1" in ingest(env, product.path)  # done is done


def test_a_provider_that_does_not_answer_is_retried_and_a_gone_item_is_not(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    tmp_path: Path,
) -> None:
    """Items on a provider's server: a 503 for a while is waited out, a 404 fails once."""
    flaky, gone = write_products(tmp_path / "provider", 2, fmt="stac")
    root = tmp_path / "provider"
    for product in (flaky, gone):  # assets relative to their item, as a provider serves them
        item = json.loads(product.path.read_text())
        for asset in item["assets"].values():
            asset["href"] = Path(asset["href"]).name
        product.path.write_text(json.dumps(item))
    paths = {p.product_id: "/" + p.path.relative_to(root).as_posix() for p in (flaky, gone)}
    script = {
        paths[flaky.product_id]: [200, 503, 503, 200],  # listed, then down twice, then back
        paths[gone.product_id]: [200, 404],  # listed, then withdrawn
    }
    env = pipeline_env(redis_broker)
    with serve_directory(root, script) as (base, served):
        ingest(env, *(base + path for path in paths.values()))
        pool = workers(env)
        worker = pool.start("--processes", "1")
        done = {j.product_id: j for j in wait_done(database, 2, logs=pool.logs)}
    assert done[flaky.product_id].status == "succeeded", done[flaky.product_id].last_error
    assert served.count(paths[flaky.product_id]) >= 4  # listed, two failures, then read
    assert done[gone.product_id].status == "failed"
    assert "HTTP 404" in (done[gone.product_id].last_error or "")
    assert done[gone.product_id].attempts == 1  # gone is final: not retried
    assert worker.poll() is None
    assert [i["id"] for i in items(database)] == [flaky.product_id]

"""Reconcile on real brokers: lost workers and vanished messages are found from the job table."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pika
import pytest
import redis

from catalog.settings import DatabaseSettings
from ingest.broker import backlog, make_broker, present_messages
from ingest.errors import ConfigError
from ingest.jobs import JobStore
from ingest.pipeline import Pipeline, SourceRef
from ingest.recovery import MIN_AGE_S, reconcile
from ingest.settings import BrokerSettings, WorkerSettings

REF = SourceRef("S2B_MSIL1C_20230601T103629_N0509_R008_T32UQD_20230601T112342", "/x.SAFE")


def make_pipeline(database: DatabaseSettings, broker: BrokerSettings, **worker: float) -> Pipeline:
    settings = WorkerSettings(**worker)  # type: ignore[arg-type]
    return Pipeline(JobStore(database.url), make_broker(broker, settings), broker, settings)


@pytest.fixture
def redis_pipeline(database: DatabaseSettings, redis_broker: BrokerSettings) -> Iterator[Pipeline]:
    pipeline = make_pipeline(database, redis_broker, max_recoveries=1)
    yield pipeline
    pipeline.close()


def test_unknown_broker_scheme_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown scheme 'kafka'"):
        make_broker(BrokerSettings(url="kafka://127.0.0.1:9092"))


def test_submission_sends_one_message_per_new_job(
    any_broker: BrokerSettings, database: DatabaseSettings
) -> None:
    pipeline = make_pipeline(database, any_broker)
    try:
        (first,) = pipeline.submit([REF], "m")
        (again,) = pipeline.submit([REF], "m")
        assert first.dispatch and not again.dispatch
        queue = any_broker.queue_name("fetch")
        assert backlog(pipeline.broker, queue) == 1
        present = present_messages(pipeline.broker, queue)
        # Redis lists the messages it holds; RabbitMQ only counts them.
        listed = {first.job.message_id} if any_broker.url.startswith("redis") else None
        assert present == listed
        # Nothing is lost, so reconcile leaves everything alone.
        report = reconcile(pipeline, min_age_s=0)
        assert report.changed == 0
    finally:
        pipeline.close()


def test_a_lost_worker_is_found_and_a_job_that_keeps_killing_workers_fails(
    redis_pipeline: Pipeline,
) -> None:
    pipeline, store = redis_pipeline, redis_pipeline.store
    (sub,) = pipeline.submit([REF], "m")
    job = store.claim(sub.job.id, sub.job.message_id or "", "fetch", "dead-worker", 0.2)
    assert job is not None
    time.sleep(0.4)
    report = reconcile(pipeline, min_age_s=0)
    assert report.recovered == [job.id]
    again = store.get(job.id)
    assert again is not None and again.status == "queued" and again.recoveries == 1
    assert again.message_id != job.message_id
    queue = pipeline.queue_name("fetch")
    assert again.message_id in (present_messages(pipeline.broker, queue) or set())
    # The old message is stale now: it cannot take the job any more.
    assert store.claim(job.id, job.message_id or "", "fetch", "w", 30) is None

    lost_again = store.claim(job.id, again.message_id or "", "fetch", "dead-worker", 0.2)
    assert lost_again is not None
    time.sleep(0.4)
    report = reconcile(pipeline, min_age_s=0)
    assert report.failed == [job.id]
    failed = store.get(job.id)
    assert failed is not None and failed.status == "failed"
    assert "was lost 2 times" in (failed.last_error or "")


def test_messages_lost_with_a_redis_flush_are_sent_again(
    redis_pipeline: Pipeline, redis_broker: BrokerSettings
) -> None:
    pipeline = redis_pipeline
    refs = [SourceRef(f"{REF.product_id}_{i}", f"/p{i}.SAFE") for i in range(3)]
    submitted = pipeline.submit(refs, "m")
    client = redis.Redis.from_url(redis_broker.url)
    keys = list(client.scan_iter(f"{redis_broker.redis_namespace}:*"))
    client.delete(*keys)  # what a restart without persistence does
    queue = pipeline.queue_name("fetch")
    assert present_messages(pipeline.broker, queue) == set()
    report = reconcile(pipeline, min_age_s=0)
    assert sorted(report.resent) == sorted(s.job.id for s in submitted)
    jobs = [pipeline.store.get(s.job.id) for s in submitted]
    assert present_messages(pipeline.broker, queue) == {j.message_id for j in jobs if j}
    assert reconcile(pipeline, min_age_s=0).changed == 0


def test_rabbitmq_jobs_are_sent_again_only_when_their_queue_is_empty_and_they_are_stale(
    database: DatabaseSettings, amqp_broker: BrokerSettings
) -> None:
    pipeline = make_pipeline(database, amqp_broker, stale_queued_s=0.5)
    try:
        (sub,) = pipeline.submit([REF], "m")
        time.sleep(0.6)
        assert reconcile(pipeline, min_age_s=0).changed == 0  # its message still waits
        conn = pika.BlockingConnection(pika.URLParameters(amqp_broker.url))
        conn.channel().queue_purge(amqp_broker.queue_name("fetch"))
        conn.close()
        report = reconcile(pipeline, min_age_s=0)
        assert report.resent == [sub.job.id]
        assert backlog(pipeline.broker, amqp_broker.queue_name("fetch")) == 1
    finally:
        pipeline.close()


def test_the_default_settings_find_lost_work_within_a_minute() -> None:
    """The promise the README makes, in the defaults' own terms.

    A killed worker's job: its lease runs out at most ``lease_s`` after its last renewal,
    and the next sweep queues it again. A message the broker lost: it counts as vanished once
    it is ``RECONCILE_MIN_AGE_S`` old (or, held by a worker that died, once the worker's Redis
    heartbeat is stale), and the next sweep sends it again. Each leaves room to pick it up.
    """
    worker, broker = WorkerSettings.model_fields, BrokerSettings.model_fields
    lease, sweep = worker["lease_s"].default, worker["sweep_interval_s"].default
    heartbeat = broker["redis_heartbeat_timeout_s"].default
    assert lease + sweep <= 50
    assert max(MIN_AGE_S, heartbeat) + sweep <= 50
    assert sweep > 0 and lease / 4 <= 10  # a sweep runs; a missed renewal or two is survived

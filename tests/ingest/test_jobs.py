"""The job table: one job per (product, model), and only a job's current message may change it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from catalog.settings import DatabaseSettings, with_database
from ingest.jobs import Job, JobStore

PRODUCT = "S2A_MSIL1C_20230625T103506_N0509_R065_T32UQD_20230625T124851"


@pytest.fixture
def store(database: DatabaseSettings) -> Iterator[JobStore]:
    with JobStore(database.url) as s:
        yield s


def queued(store: JobStore, product: str = PRODUCT, force: bool = False) -> Job:
    with store.transaction() as conn:
        outcome = store.submit(conn, product, "model-a", f"/eodata/{product}.SAFE", force=force)
        store.set_message(conn, outcome.job.id, uuid.uuid4().hex, "fetch")
    job = store.get(outcome.job.id)
    assert job is not None
    return job


def test_submitting_twice_makes_one_job_and_force_restarts_it(store: JobStore) -> None:
    first = queued(store)
    with store.transaction() as conn:
        again = store.submit(conn, PRODUCT, "model-a", "/elsewhere/x.zip")
    assert not again.dispatch and again.job.id == first.id
    assert again.job.source == first.source  # a plain resubmission changes nothing

    with store.transaction() as conn:
        other_model = store.submit(conn, PRODUCT, "model-b", "/x")
    assert other_model.created and other_model.job.id != first.id

    claimed = store.claim(first.id, first.message_id or "", "fetch", "w1", 30)
    assert claimed is not None
    with store.transaction() as conn:
        assert store.finish(conn, claimed, "failed", error="boom")
        forced = store.submit(conn, PRODUCT, "model-a", "/elsewhere/x.zip", force=True)
    assert forced.reset and forced.job.id == first.id
    assert forced.job.status == "queued" and forced.job.stage == "fetch"
    assert forced.job.force and forced.job.source == "/elsewhere/x.zip"
    assert forced.job.last_error is None and forced.job.attempts == 0
    assert store.counts().by_status == {"queued": 2}


def test_only_the_current_message_claims_and_only_once(store: JobStore) -> None:
    job = queued(store)
    assert store.claim(job.id, "some-old-message", "fetch", "w1", 30) is None
    assert store.claim(job.id, job.message_id or "", "infer", "w1", 30) is None
    running = store.claim(job.id, job.message_id or "", "fetch", "w1", 30)
    assert running is not None and running.status == "running" and running.worker == "w1"
    # The same message again (a redelivery) while the lease holds: refused.
    assert store.claim(job.id, job.message_id or "", "fetch", "w2", 30) is None
    assert store.renew(job.id, job.message_id or "", 30)
    assert not store.renew(job.id, "other", 30)


def test_an_expired_lease_can_be_taken_over(store: JobStore) -> None:
    job = queued(store)
    assert store.claim(job.id, job.message_id or "", "fetch", "w1", 0.2) is not None
    time.sleep(0.4)
    again = store.claim(job.id, job.message_id or "", "fetch", "w2", 30)
    assert again is not None and again.worker == "w2" and again.attempts == 2


def test_advance_and_finish_need_the_current_message(store: JobStore) -> None:
    job = queued(store)
    running = store.claim(job.id, job.message_id or "", "fetch", "w1", 30)
    assert running is not None
    stale = Job(**{**running.__dict__, "message_id": "stale"})
    with store.transaction() as conn:
        assert not store.advance(conn, stale, "infer", "m2")
        assert store.advance(
            conn, running, "infer", "m2", timings={"fetch": 1.5}, collection="c", product={"a": 1}
        )
    moved = store.get(job.id)
    assert moved is not None
    assert (moved.status, moved.stage, moved.message_id) == ("queued", "infer", "m2")
    assert moved.timings["fetch"] == 1.5 and moved.timings["fetch_wait"] >= 0
    assert moved.collection == "c"
    assert moved.product == {"a": 1} and moved.worker is None

    infer = store.claim(job.id, "m2", "infer", "w1", 30)
    assert infer is not None
    assert store.release(infer, "infer: OSError: network down")
    retried = store.claim(job.id, "m2", "infer", "w2", 30)
    assert retried is not None and retried.last_error == "infer: OSError: network down"
    with store.transaction() as conn:
        assert not store.finish(conn, running, "succeeded")  # the fetch message is stale now
        assert store.finish(conn, retried, "succeeded", timings={"infer": 2.0}, output_href="h")
    done = store.get(job.id)
    assert done is not None
    assert (done.status, done.stage, done.output_href) == ("succeeded", "done", "h")
    assert set(done.timings) == {"fetch", "fetch_wait", "infer", "infer_wait"}
    assert done.finished_at is not None


def test_the_ingest_role_may_manage_jobs(database: DatabaseSettings, pg_admin_url: str) -> None:
    dbname = database.url.rsplit("/", 1)[1]
    url = with_database(pg_admin_url.replace("postgres@", "kappacat_ingest@", 1), dbname)
    try:
        psycopg.connect(url).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"cannot connect as kappacat_ingest (trust auth expected): {exc}")
    with JobStore(url) as store:
        job = queued(store)
        assert store.claim(job.id, job.message_id or "", "fetch", "w", 30) is not None
        assert store.counts().by_status == {"running": 1}


@pytest.mark.parametrize(("failure", "resumes"), [("input", False), ("transient", True)])
def test_a_plain_resubmission_resumes_only_a_job_that_failed_outside_its_product(
    store: JobStore, failure: str, resumes: bool
) -> None:
    job = queued(store)
    running = store.claim(job.id, job.message_id or "", "fetch", "w1", 30)
    assert running is not None
    with store.transaction() as conn:
        assert store.advance(conn, running, "infer", "m2", product={"id": PRODUCT})
    infer = store.claim(job.id, "m2", "infer", "w1", 30)
    assert infer is not None
    assert store.fail(infer, "infer: StorageError: read-only", failure=failure)
    with store.transaction() as conn:
        again = store.submit(conn, PRODUCT, "model-a", "/moved/x.SAFE")
    assert again.dispatch is resumes and again.resumed is resumes
    if resumes:  # where it stopped, with what it had
        assert (again.job.status, again.job.stage, again.job.failure) == ("queued", "infer", None)
        assert again.job.product == {"id": PRODUCT} and again.job.source == "/moved/x.SAFE"
    else:
        assert (again.job.status, again.job.failure) == ("failed", "input")
        assert again.job.source == job.source

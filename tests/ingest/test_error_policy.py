"""The error policy through real workers: a broken model card fails its job at once, with its
message; a worker whose own settings are wrong hands its job back and stops."""

from __future__ import annotations

import shutil
import time
from importlib.resources import as_file, files
from pathlib import Path

import pytest
import yaml

from catalog.settings import DatabaseSettings
from ingest.settings import BrokerSettings
from tests.ingest.conftest import EnvFactory, WorkersFactory, kappacat
from tests.ingest.helpers import jobs, wait_done, wait_for, write_products

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHIPPED_CARD = Path(__file__).resolve().parents[2] / "inference/cards/ukis-csmask-6b-l1c.yaml"


def card_with_own_onnx(folder: Path) -> tuple[Path, Path]:
    """The shipped L1C card, with its ONNX file copied next to it (card, ONNX file)."""
    folder.mkdir(parents=True)
    card = yaml.safe_load(SHIPPED_CARD.read_text())
    onnx = folder / "model.onnx"
    with as_file(files("ukis_csmask").joinpath("model_6b_l1c.onnx")) as shipped:
        shutil.copy(shipped, onnx)
    card.update(id="csmask-own-copy", onnx=str(onnx))
    path = folder / "card.yaml"
    path.write_text(yaml.safe_dump(card))
    return path, onnx


def test_a_missing_onnx_file_fails_its_job_at_once_and_a_plain_ingest_resumes_it(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    tmp_path: Path,
) -> None:
    [product] = write_products(tmp_path / "products", 1)
    card, onnx = card_with_own_onnx(tmp_path / "model")
    env = pipeline_env(redis_broker)
    submitted = kappacat(env, "ingest", "--model", str(card), str(product.path))
    assert submitted.returncode == 0, submitted.stderr
    hidden = onnx.rename(onnx.with_suffix(".moved"))  # the file goes missing before inference
    pool = workers(env)
    pool.start("--processes", "1")
    started = time.monotonic()
    [job] = wait_done(database, 1, logs=pool.logs)
    assert job.status == "failed" and job.failure == "config"
    assert job.last_error is not None and "ONNX file not found" in job.last_error
    assert str(onnx) in job.last_error
    assert job.attempts == 2  # fetch, then inference once: not retried with backoff
    assert time.monotonic() - started < 120

    hidden.rename(onnx)  # fixed: a plain re-ingest, no --force, resumes it
    again = kappacat(env, "ingest", "--model", str(card), str(product.path))
    assert again.returncode == 0 and "resumed at infer" in again.stdout, again.stdout
    [job] = wait_done(database, 1, logs=pool.logs)
    assert job.status == "succeeded", job.last_error


def test_a_worker_with_wrong_settings_hands_its_job_back_and_stops(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    tmp_path: Path,
) -> None:
    [product] = write_products(tmp_path / "products", 1)
    env = pipeline_env(redis_broker)
    pool = workers(env)
    # Read only once a job reaches inference: this worker boots fine, then finds it wrong.
    broken = pool.start("--processes", "1", KAPPACAT_INFERENCE_THREADS="many")
    submitted = kappacat(env, "ingest", str(product.path))
    assert submitted.returncode == 0, submitted.stderr
    assert broken.wait(timeout=120) == 2, pool.logs()[-3000:]  # the group stops, exit code 2
    [job] = jobs(database)
    assert job.status == "queued" and job.stage == "infer"
    assert "configuration" in (job.last_error or "") and "threads" in (job.last_error or "")
    pool.start("--processes", "1")  # a worker configured rightly takes it over
    wait_for(lambda: jobs(database)[0].status == "succeeded", "the job done by the good worker")

"""Faults that last a minute, healed with no manual step: real workers, a real Redis server that
is stopped and started empty, storage that turns read-only. Each ends with every product
published exactly once, within two minutes of the fault ending."""

from __future__ import annotations

import os
import shutil
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from catalog.settings import DatabaseSettings
from ingest.settings import BrokerSettings
from tests.ingest.conftest import EnvFactory, PrivateRedis, Workers, WorkersFactory, ingest
from tests.ingest.helpers import (
    items,
    jobs,
    log_records,
    published,
    wait_done,
    wait_for,
    write_products,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAULT_S = 60.0
"""How long each fault lasts."""
HEAL_S = 120.0
"""How long after the fault ends every product must be published."""


def _assert_published_once(
    database: DatabaseSettings, product_ids: list[str], pool: Workers, healed_at: float
) -> None:
    done = wait_done(database, len(product_ids), timeout=HEAL_S, logs=pool.logs)
    assert time.monotonic() - healed_at <= HEAL_S
    assert [j.status for j in done] == ["succeeded"] * len(done), [j.last_error for j in done]
    assert sorted(i["id"] for i in items(database)) == sorted(product_ids)
    assert published(pool.logs()) == dict.fromkeys(product_ids, 1)


def test_a_redis_restart_that_loses_the_queue_is_healed_by_the_sweep(
    database: DatabaseSettings,
    private_redis: PrivateRedis,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    tmp_path: Path,
) -> None:
    """Redis down for a minute, back without a message: with the default sweep interval,
    lease and heartbeat, the workers' sweep sends the lost messages within a minute."""
    products = write_products(tmp_path / "source", 4)
    broker = BrokerSettings(url=private_redis.url, queue_prefix="kc", redis_namespace="kc")
    defaults = ("SWEEP_INTERVAL_S", "LEASE_S", "REDIS_HEARTBEAT_TIMEOUT_S")
    env = {k: v for k, v in pipeline_env(broker).items() if not k.endswith(defaults)}
    pool = workers(env)
    group = pool.start("--processes", "1")
    ingest(env, *(p.path for p in products))
    wait_for(lambda: any(j.status == "succeeded" for j in jobs(database)), "a first success")
    private_redis.stop()
    assert sum(j.status == "queued" for j in jobs(database)) >= 2  # their messages are gone
    time.sleep(FAULT_S)
    private_redis.start()
    healed_at, back = time.monotonic(), datetime.now(UTC)
    _assert_published_once(database, [p.product_id for p in products], pool, healed_at)
    resent = [t for t, message in log_records(pool.logs()) if "vanished" in message]
    assert resent, "the sweep sent nothing again"
    assert (min(resent) - back).total_seconds() <= 60
    assert group.poll() is None


def _set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        write = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~write))


def _without_root_privileges() -> list[str]:
    """A command prefix under which root is refused writes that permissions refuse."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root: setpriv (util-linux) is needed to make storage read-only")
    return [setpriv, "--bounding-set=-dac_override", "--"]


def test_storage_read_only_for_a_minute_is_waited_out(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    workers: WorkersFactory,
    tmp_path: Path,
) -> None:
    """Masks cannot be stored for a minute: jobs wait with backoff, none fails, none is lost."""
    products = write_products(tmp_path / "source", 3)
    storage = tmp_path / "storage"
    env = pipeline_env(
        redis_broker,
        KAPPACAT_STORAGE_URL=str(storage),
        KAPPACAT_WORKER_MIN_BACKOFF_MS="1000",
        KAPPACAT_WORKER_MAX_BACKOFF_MS="5000",
        KAPPACAT_WORKER_STORAGE_MAX_RETRIES="100",
    )
    pool = workers(env)
    group = pool.start("--processes", "1", wrapper=_without_root_privileges())
    ingest(env, products[0].path)
    wait_for(lambda: any(j.status == "succeeded" for j in jobs(database)), "a first success")
    _set_writable(storage, False)
    try:
        ingest(env, *(p.path for p in products[1:]))
        wait_for(lambda: "cannot store" in pool.logs(), "a write refused", timeout=FAULT_S)
        time.sleep(FAULT_S)
        during = jobs(database)
        assert not any(j.status == "failed" for j in during), [j.last_error for j in during]
        assert any("StorageError" in (j.last_error or "") for j in during)
    finally:
        _set_writable(storage, True)
    healed_at = time.monotonic()
    _assert_published_once(database, [p.product_id for p in products], pool, healed_at)
    assert group.poll() is None

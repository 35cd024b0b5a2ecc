"""Fixtures for pipeline tests: real Redis and RabbitMQ, a private Redis, moto's S3 server,
worker processes started with ``kappacat worker``, and generated sample products."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pika
import pytest
import redis

from catalog.settings import DatabaseSettings
from ingest.settings import STAGES, BrokerSettings
from kappacat.localdb import redis_server
from tests.servers import free_port, http_answers, stop_process, wait_until

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("KAPPACAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("KAPPACAT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _amqp_answers(url: str) -> bool:
    try:
        params = pika.URLParameters(url)
        params.socket_timeout = 3
        params.blocked_connection_timeout = 3
        pika.BlockingConnection(params).close()
        return True
    except pika.exceptions.AMQPError:
        return False


def cleanup_broker(settings: BrokerSettings) -> None:
    """Remove every queue and key a test's broker settings may have made."""
    if settings.url.startswith("redis"):
        try:
            client = redis.Redis.from_url(settings.url, socket_connect_timeout=2)
            keys = list(client.scan_iter(f"{settings.redis_namespace}:*", count=1000))
            if keys:
                client.delete(*keys)
        except redis.RedisError:
            return  # a private Redis that is already gone
        return
    conn = pika.BlockingConnection(pika.URLParameters(settings.url))
    try:
        channel = conn.channel()
        for stage in STAGES:
            for suffix in ("", ".DQ", ".XQ"):
                channel.queue_delete(settings.queue_name(stage) + suffix)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis server (fails, never skips, when it does not answer)."""
    if not _redis_answers(REDIS_URL):
        pytest.fail(f"Redis does not answer at {REDIS_URL} (set KAPPACAT_TEST_REDIS_URL)")
    return REDIS_URL


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The shared RabbitMQ server (fails, never skips, when it does not answer)."""
    if not _amqp_answers(AMQP_URL):
        pytest.fail(f"RabbitMQ does not answer at {AMQP_URL} (set KAPPACAT_TEST_AMQP_URL)")
    return AMQP_URL


def _unique() -> str:
    return f"kctest{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_broker(redis_url: str) -> Iterator[BrokerSettings]:
    """Broker settings on Redis with queues and keys of this test only."""
    name = _unique()
    settings = BrokerSettings(url=redis_url, queue_prefix=name, redis_namespace=name)
    yield settings
    cleanup_broker(settings)


@pytest.fixture
def amqp_broker(amqp_url: str) -> Iterator[BrokerSettings]:
    """Broker settings on RabbitMQ with queues of this test only."""
    settings = BrokerSettings(url=amqp_url, queue_prefix=_unique())
    yield settings
    cleanup_broker(settings)


@pytest.fixture(params=["redis", "rabbitmq"])
def any_broker(
    request: pytest.FixtureRequest, redis_url: str, amqp_url: str
) -> Iterator[BrokerSettings]:
    """Each broker in turn."""
    name = _unique()
    url = redis_url if request.param == "redis" else amqp_url
    settings = BrokerSettings(url=url, queue_prefix=name, redis_namespace=name)
    yield settings
    cleanup_broker(settings)


class PrivateRedis:
    """The demo's private Redis (:func:`kappacat.localdb.redis_server`), restartable on its port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._running: contextlib.ExitStack | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        running = contextlib.ExitStack()
        running.enter_context(redis_server(self.workdir, self.port))
        self._running = running

    def stop(self) -> None:
        """Stop the server (everything it held is gone)."""
        if self._running is not None:
            self._running.close()
            self._running = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A running private Redis (no persistence) for tests that restart it."""
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@dataclass
class Workers:
    """``kappacat worker`` commands started by a test, stopped at its end."""

    env: dict[str, str]
    logdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *args: str, wrapper: Sequence[str] = (), **env: str) -> subprocess.Popen[bytes]:
        """Start ``kappacat worker ARGS`` in its own process group (run by ``wrapper``)."""
        n = len(self.procs)
        log = (self.logdir / f"worker-{n}.log").open("wb")
        proc = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "kappacat", "worker", *args],
            env={**os.environ, **self.env, **env},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def children(self, proc: subprocess.Popen[bytes]) -> list[int]:
        """Pids of the processes a worker command started (its worker and fork processes)."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def logs(self) -> str:
        """Everything the workers wrote so far."""
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.logdir.glob("worker-*.log"))
        )

    def stop(self, grace: float = 1.0) -> None:
        """SIGTERM each worker's process group, SIGKILL what is left after ``grace`` seconds."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            # The group too: a worker process may outlive its main process.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def pipeline_env(
    database: DatabaseSettings, tmp_path: Path, shared_data: Path
) -> Callable[[BrokerSettings], dict[str, str]]:
    """The environment of ``kappacat`` commands for one test's database, broker and storage."""
    storage = tmp_path / "storage"

    def env(broker: BrokerSettings, **extra: str) -> dict[str, str]:
        return {
            "KAPPACAT_DATABASE_URL": database.url,
            "KAPPACAT_BROKER_URL": broker.url,
            "KAPPACAT_BROKER_QUEUE_PREFIX": broker.queue_prefix,
            "KAPPACAT_BROKER_REDIS_NAMESPACE": broker.redis_namespace,
            "KAPPACAT_BROKER_REDIS_HEARTBEAT_TIMEOUT_S": "5",
            "KAPPACAT_STORAGE_URL": str(storage),
            "KAPPACAT_WORKER_LEASE_S": "3",
            "KAPPACAT_WORKER_SWEEP_INTERVAL_S": "1",
            "KAPPACAT_WORKER_STALE_QUEUED_S": "20",
            "KAPPACAT_WORKER_MIN_BACKOFF_MS": "200",
            "KAPPACAT_WORKER_MAX_BACKOFF_MS": "1000",
            "KAPPACAT_WORKER_MAX_RETRIES": "3",
            "KAPPACAT_WORKER_METRICS_PORT": "0",
            "KAPPACAT_WORKER_WORK_DIR": str(tmp_path / "work"),
            "KAPPACAT_INGEST_POLL_S": "0.5",
            "KAPPACAT_INFERENCE_THREADS": "1",
            # what the workers check every item with before publishing it
            "KAPPACAT_STAC_SCHEMAS_DIR": str(shared_data / "stac-schemas"),
            **extra,
        }

    return env


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Workers]]:
    """Start worker commands with an environment; all are stopped when the test ends."""
    started: list[Workers] = []

    def make(env: dict[str, str]) -> Workers:
        logdir = tmp_path / f"workers-{len(started)}"
        logdir.mkdir()
        w = Workers(env, logdir)
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


def kappacat(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a ``kappacat`` command to its end."""
    return subprocess.run(
        [sys.executable, "-m", "kappacat", *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ingest(env: dict[str, str], *sources: str | Path, force: bool = False) -> str:
    """``kappacat ingest SOURCES``, which must succeed; its output."""
    args = ["ingest", *map(str, sources), *(["--force"] if force else [])]
    proc = kappacat(env, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


EnvFactory = Callable[..., dict[str, str]]
"""The ``pipeline_env`` fixture: broker settings and extra variables -> a worker environment."""
WorkersFactory = Callable[[dict[str, str]], Workers]
"""The ``workers`` fixture: an environment -> a :class:`Workers` to start workers with."""


@dataclass
class S3Server:
    """moto's S3 server on loopback."""

    endpoint: str

    def bucket(self, name: str, *, public: bool = True) -> None:
        """Create a bucket that anyone may read from, as a public mask archive is."""
        import json

        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=name)
        if public:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        # moto checks HEAD requests as their own action; AWS needs only
                        # GetObject, and GDAL starts reading a COG with a HEAD request.
                        "Action": ["s3:GetObject", "s3:HeadObject"],
                        "Resource": f"arn:aws:s3:::{name}/*",
                    }
                ],
            }
            client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-protocol server (moto in server mode) in its own process."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        if not wait_until(lambda: http_answers(endpoint, any_status=True), proc, 30):
            if proc.poll() is not None:
                pytest.fail("moto's S3 server exited at start")
            pytest.fail("moto's S3 server did not start")
        yield S3Server(endpoint)
    finally:
        stop_process(proc)


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
}
"""Credentials moto accepts (any), for the storage client."""

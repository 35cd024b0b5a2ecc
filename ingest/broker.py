"""The one place the dramatiq broker is made, from :class:`BrokerSettings`.

Nothing here runs at import: no implicit default broker is ever created. Workers, the
submitting commands and the tests all call :func:`make_broker` and pass the result on.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import dramatiq
from dramatiq import Message
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from ingest.errors import ConfigError
from ingest.policy import retry_rule
from ingest.settings import BrokerSettings, WorkerSettings

REDIS_SCHEMES = ("redis", "rediss", "unix")
AMQP_SCHEMES = ("amqp", "amqps")


def broker_kind(url: str) -> str:
    """``redis`` or ``rabbitmq`` for a broker URL; :class:`ConfigError` for anything else."""
    scheme = urlsplit(url).scheme
    if scheme in REDIS_SCHEMES:
        return "redis"
    if scheme in AMQP_SCHEMES:
        return "rabbitmq"
    raise ConfigError(
        f"KAPPACAT_BROKER_URL {url!r}: unknown scheme {scheme!r} "
        "(use redis://host:6379/0 or amqp://user:password@host:5672/)"
    )


def make_broker(
    settings: BrokerSettings,
    worker: WorkerSettings | None = None,
    *,
    extra_middleware: list[Middleware] | None = None,
) -> dramatiq.Broker:
    """A Redis or RabbitMQ broker with the middleware the pipeline relies on."""
    worker = worker or WorkerSettings()
    kind = broker_kind(settings.url)
    middleware: list[Middleware] = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            min_backoff=worker.min_backoff_ms,
            max_backoff=worker.max_backoff_ms,
            retry_when=retry_rule(worker),
        ),
        CurrentMessage(),
        *(extra_middleware or []),
    ]
    if kind == "redis":
        return RedisBroker(
            url=settings.url,
            namespace=settings.redis_namespace,
            dead_message_ttl=settings.dead_message_ttl_s * 1000,
            heartbeat_timeout=int(settings.redis_heartbeat_timeout_s * 1000),
            middleware=middleware,
            socket_timeout=30,
            socket_connect_timeout=10,
            health_check_interval=30,
        )
    return RabbitmqBroker(url=settings.url, confirm_delivery=True, middleware=middleware)


def present_messages(broker: dramatiq.Broker, queue_name: str) -> set[str] | None:
    """Ids of the messages of a queue that will still be delivered or are being worked on.

    Counted: messages waiting in the queue or its delay queue, and those handed to a worker
    whose heartbeat is recent. Not counted: those held by a worker that stopped beating (a
    killed one), which dramatiq would only hand out again much later. None when the broker
    cannot list messages (RabbitMQ keeps messages durable and only counts them).
    """
    if not isinstance(broker, RedisBroker):
        return None
    ns, client = broker.namespace, broker.client
    now_ms = int(time.time() * 1000)
    live = [
        w.decode() if isinstance(w, bytes) else str(w)
        for w in client.zrangebyscore(
            f"{ns}:__heartbeats__", now_ms - broker.heartbeat_timeout, "+inf"
        )
    ]
    found: set[str] = set()
    for queue in (queue_name, f"{queue_name}.DQ"):
        redis_ids = set(client.lrange(f"{ns}:{queue}", 0, -1))
        for worker in live:
            redis_ids |= client.smembers(f"{ns}:__acks__.{worker}.{queue}")
        if not redis_ids:
            continue
        for data in client.hmget(f"{ns}:{queue}.msgs", list(redis_ids)):
            if isinstance(data, bytes):
                found.add(Message.decode(data).message_id)
    return found


def backlog(broker: dramatiq.Broker, queue_name: str) -> int:
    """Messages waiting in a queue and its delay queue (not those already handed out)."""
    if isinstance(broker, RedisBroker):
        ns = broker.namespace
        client = broker.client
        return int(client.llen(f"{ns}:{queue_name}")) + int(client.llen(f"{ns}:{queue_name}.DQ"))
    if isinstance(broker, RabbitmqBroker):
        ready, delayed, _dead = broker.get_queue_message_counts(queue_name)
        return int(ready) + int(delayed)
    raise ConfigError(f"unsupported broker {type(broker).__name__}")


def dead_letters(broker: dramatiq.Broker, queue_name: str) -> int:
    """Messages in a queue's dead-letter queue (retries exhausted)."""
    if isinstance(broker, RedisBroker):
        return int(broker.client.zcard(f"{broker.namespace}:{queue_name}.XQ"))
    if isinstance(broker, RabbitmqBroker):
        return int(broker.get_queue_message_counts(queue_name)[2])
    raise ConfigError(f"unsupported broker {type(broker).__name__}")

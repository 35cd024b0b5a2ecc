"""Take a message only when a worker thread is free to run it.

dramatiq runs one consumer per queue, each with its own prefetch, all feeding one pool of
worker threads. A worker process whose only thread is busy with a long inference would still
pull the next fetch, infer and publish messages off their queues and sit on them while other
workers idle. :class:`CapacityGate` shares one set of slots (one per worker thread) between
the process's consumers: a consumer fetches only after taking a slot, and the slot is given
back when its message is acknowledged or rejected. Delay queues are not gated: their
consumers only move messages back to their queues when they are due.

RabbitMQ pushes up to the prefetch count (1 per queue here) to a consumer before it asks, so
there a busy worker can still hold one waiting message per queue; Redis is polled and holds
none.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from typing import Any

import dramatiq
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.middleware import Middleware

IDLE_S = 0.1
"""How long a consumer that found no free slot or no message rests before trying again."""
POLL_S = 0.1
"""Longest a consumer polls its queue (holding a slot) before giving the slot back."""


class _GatedConsumer(Consumer):
    def __init__(self, inner: Consumer, slots: threading.Semaphore) -> None:
        self.inner = inner
        self.slots = slots
        self.held: set[str] = set()

    def __next__(self) -> MessageProxy | None:
        # Never wait for a slot while holding one, and never poll while others wait: a slot is
        # only held across one short fetch, and a consumer that found nothing sleeps outside.
        if not self.slots.acquire(blocking=False):
            time.sleep(IDLE_S)
            return None
        try:
            message = next(self.inner)
        except BaseException:
            self.slots.release()
            raise
        if message is None:
            self.slots.release()
            time.sleep(random.uniform(0, IDLE_S))
            return None
        self.held.add(message.message_id)
        return message

    def _done(self, message: MessageProxy) -> None:
        if message.message_id in self.held:
            self.held.discard(message.message_id)
            self.slots.release()

    def ack(self, message: MessageProxy) -> None:
        try:
            self.inner.ack(message)
        finally:
            self._done(message)

    def nack(self, message: MessageProxy) -> None:
        try:
            self.inner.nack(message)
        finally:
            self._done(message)

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        messages = list(messages)
        try:
            self.inner.requeue(messages)
        finally:
            for message in messages:
                self._done(message)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CapacityGate(Middleware):
    """Middleware: a worker process holds at most as many messages as it has threads."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        slots = threading.Semaphore(int(worker.worker_threads))
        consume = broker.consume

        def gated_consume(queue_name: str, prefetch: int = 1, timeout: int = 30000) -> Consumer:
            if queue_name.endswith(".DQ"):
                return consume(queue_name, prefetch=prefetch, timeout=timeout)
            # A short poll: the consumer holds a slot while it polls.
            inner = consume(queue_name, prefetch=prefetch, timeout=int(POLL_S * 1000))
            return _GatedConsumer(inner, slots)

        broker.consume = gated_consume  # type: ignore[method-assign]

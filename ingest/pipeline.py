"""Actors and queues, and moving jobs between them: the job table first, then the message.

A message carries one job id. Before a message is sent its id is written into the job (in
the same transaction as the change that calls for it), and only after that transaction
commits is the message handed to the broker. A message that is lost on the way (a broker
restart, a crash between the commit and the send) leaves a queued job whose message the
broker does not hold; :mod:`ingest.recovery` finds it and sends a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import dramatiq
import pika.exceptions
import redis
from dramatiq import Message
from dramatiq.errors import BrokerError

from ingest.errors import ConfigError, SourceError
from ingest.jobs import Job, JobStore, Submitted
from ingest.settings import STAGES, BrokerSettings, WorkerSettings

logger = logging.getLogger(__name__)

BROKER_ERRORS = (BrokerError, redis.RedisError, pika.exceptions.AMQPError, OSError)
"""What a broker raises when it cannot be reached."""

ModelFor = Callable[["SourceRef"], tuple[str, str | None]]
"""Which model a product gets: (model id, card reference for workers)."""

Handler = Callable[[str, int], None]
"""What a worker does with a message: ``handler(stage, job_id)``."""


def shown(text: str) -> str:
    """Text that can be printed and stored, undecodable bytes of a file name as ``\\xff``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that no file name decoded to
        return ascii(text)[1:-1]


@dataclass(frozen=True)
class SourceRef:
    """A product to make a mask of: its id and where workers read it from."""

    product_id: str
    source: str
    collection: str | None = None

    def __post_init__(self) -> None:
        for what, text in (("file name or URL", self.source), ("product id", self.product_id)):
            if shown(text) != text:
                raise SourceError(
                    f"{shown(text)}: the {what} is not valid UTF-8; rename it (ids and "
                    "sources are stored and shown as text)"
                )


def _actor_fn(stage: str, handler: Handler | None) -> Callable[[int], None]:
    def run(job_id: int) -> None:
        if handler is None:
            raise ConfigError(f"this process only sends {stage} messages; it cannot run them")
        handler(stage, job_id)

    run.__name__ = stage
    run.__qualname__ = f"kappacat.{stage}"
    return run


def declare_actors(
    broker: dramatiq.Broker,
    broker_settings: BrokerSettings,
    worker: WorkerSettings,
    handler: Handler | None = None,
) -> dict[str, dramatiq.Actor[[int], None]]:
    """One actor per stage on its own queue, bound to ``broker`` (never to a global one)."""
    limits = {
        "fetch": worker.fetch_time_limit_s,
        "infer": worker.infer_time_limit_s,
        "publish": worker.publish_time_limit_s,
    }
    actors: dict[str, dramatiq.Actor[[int], None]] = {}
    for stage in STAGES:
        actors[stage] = dramatiq.Actor(
            _actor_fn(stage, handler),
            actor_name=f"kappacat.{stage}",
            queue_name=broker_settings.queue_name(stage),
            priority=0,
            broker=broker,
            options={  # which faults are retried: the broker's Retries (retry_rule)
                "min_backoff": worker.min_backoff_ms,
                "max_backoff": worker.max_backoff_ms,
                "time_limit": int(limits[stage] * 1000),
            },
        )
    return actors


class Pipeline:
    """Submit products and hand jobs from stage to stage."""

    def __init__(
        self,
        store: JobStore,
        broker: dramatiq.Broker,
        broker_settings: BrokerSettings,
        worker: WorkerSettings | None = None,
        handler: Handler | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.broker_settings = broker_settings
        self.worker = worker or WorkerSettings()
        self.actors = declare_actors(broker, broker_settings, self.worker, handler)

    def queue_name(self, stage: str) -> str:
        """The queue of a stage."""
        return self.broker_settings.queue_name(stage)

    def message(self, job_id: int, stage: str) -> Message[None]:
        """A new message for one stage of one job (not sent yet)."""
        return self.actors[stage].message(job_id)

    def send(self, messages: Iterable[Message[Any]]) -> int:
        """Hand committed messages to the broker; one that cannot be sent is left to recovery."""
        sent = 0
        for message in messages:
            try:
                self.broker.enqueue(message)
                sent += 1
            except BROKER_ERRORS as exc:
                logger.warning(
                    "could not send %s for job %s (%s); reconcile will send it again",
                    message.actor_name,
                    message.args[0] if message.args else "?",
                    exc,
                )
        return sent

    def submit(
        self,
        refs: Iterable[SourceRef],
        model: str | ModelFor,
        *,
        force: bool = False,
    ) -> list[Submitted]:
        """Make (or with ``force`` restart) one job per product and queue its first stage.

        A job that failed on a fault outside its product resumes at the stage it stopped in.

        ``model``: a model id for every product, or a function giving (model id, card
        reference) per product.
        """
        results = []
        for ref in refs:
            model_id, card = model(ref) if callable(model) else (model, None)
            with self.store.transaction() as conn:
                outcome = self.store.submit(
                    conn,
                    ref.product_id,
                    model_id,
                    ref.source,
                    collection=ref.collection,
                    model_card=card,
                    force=force,
                )
                message = None
                if outcome.dispatch:
                    stage = outcome.job.stage
                    message = self.message(outcome.job.id, stage)
                    self.store.set_message(conn, outcome.job.id, message.message_id, stage)
                    outcome.job.message_id = message.message_id
            if message is not None:
                self.send([message])
            results.append(outcome)
        return results

    def advance(
        self,
        job: Job,
        next_stage: str,
        *,
        timings: dict[str, float] | None = None,
        collection: str | None = None,
        product: dict[str, Any] | None = None,
        output: dict[str, Any] | None = None,
        output_href: str | None = None,
    ) -> bool:
        """Queue the job's next stage with what this one learnt (see :meth:`JobStore.advance`);
        False if the job is no longer this worker's."""
        message = self.message(job.id, next_stage)
        with self.store.transaction() as conn:
            moved = self.store.advance(
                conn,
                job,
                next_stage,
                message.message_id,
                timings=timings,
                collection=collection,
                product=product,
                output=output,
                output_href=output_href,
            )
        if moved:
            self.send([message])
        return moved

    def close(self) -> None:
        """Close the broker's connections and the job store."""
        self.broker.close()
        self.store.close()

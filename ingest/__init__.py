"""The ingest pipeline: jobs, dramatiq actors and queues, storage, publishing, discovery.

Modules: :mod:`ingest.settings` (``KAPPACAT_BROKER_*``, ``KAPPACAT_WORKER_*``,
``KAPPACAT_INGEST_*``, ``KAPPACAT_FOLLOW_*``; ``KAPPACAT_STORAGE_*`` is shared, in
:mod:`catalog.settings`),
:mod:`ingest.jobs` (the job table), :mod:`ingest.broker` (the one place a broker is made),
:mod:`ingest.pipeline` (actors and hand-offs), :mod:`ingest.stages` (fetch, infer, publish),
:mod:`ingest.worker` (worker processes), :mod:`ingest.recovery` (reconcile),
:mod:`ingest.storage`, :mod:`ingest.sources` and :mod:`ingest.discover` (submission),
:mod:`ingest.follow` and :mod:`ingest.cursors` (following a provider and backfilling),
:mod:`ingest.items` and :mod:`ingest.publish` (STAC items into pgstac).
Nothing is configured at import.
"""

from __future__ import annotations

from ingest.errors import (
    BadInputError,
    ConfigError,
    IngestError,
    SourceError,
    StorageError,
    TransientError,
)
from ingest.settings import BrokerSettings, FollowSettings, SubmitSettings, WorkerSettings

__all__ = [
    "BadInputError",
    "BrokerSettings",
    "ConfigError",
    "FollowSettings",
    "IngestError",
    "SourceError",
    "StorageError",
    "SubmitSettings",
    "TransientError",
    "WorkerSettings",
]

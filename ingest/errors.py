"""The pipeline's one error hierarchy: what went wrong, and whether trying again can help."""

from __future__ import annotations


class IngestError(Exception):
    """Base of every error the ingest pipeline raises on purpose."""


class BadInputError(IngestError):
    """The product itself is unusable (corrupt, not Sentinel-2, a band missing): never retried.

    The message is what a person reads in ``kappacat jobs``: it names the product or file and
    says what is wrong with it.
    """


class PublishError(IngestError, ValueError):
    """A file or item cannot be published; the message names it and says why."""


class TransientError(IngestError):
    """A fault outside the product (network, storage, database, broker): retried with backoff."""


class StorageError(TransientError):
    """Object storage could not be written or read."""


class SourceError(IngestError):
    """A source given to ``kappacat ingest`` or found by discovery cannot be submitted."""


class ProviderUnavailableError(SourceError):
    """A provider's STAC API did not answer (refused, timed out, HTTP 5xx or 429): a follower
    waits it out with backoff; a one-off discovery fails with it."""


class ConfigError(IngestError):
    """A setting is missing or wrong (broker URL, storage URL, model card)."""


class JobLost(IngestError):
    """Recovery took the job back while this worker ran it (its lease ran out): drop the work."""

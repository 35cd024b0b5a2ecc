"""The pipeline's error policy: for each kind of error, what happens to the job and the worker.

One table, read by dramatiq's own retry hook (:func:`retry_rule`, the ``retry_when`` of its
Retries middleware) and by the worker when a stage raises (:class:`ingest.runtime.Runtime`):

=================================  ===============  =============================================
error                              outcome          what happens
=================================  ===============  =============================================
JobLost                            ``drop``         recovery took the job back; the work is
                                                    dropped, the job is someone else's now
BadInputError, PublishError        ``fail``         the product (or the item made of it) is
                                                    unusable: the job fails at once; only
                                                    ``kappacat ingest --force`` tries again
ModelCardError                     ``fail-config``  the job's model card or its ONNX file is
                                                    unusable: the job fails at once, saying so;
                                                    a plain re-ingest resumes it once fixed
ConfigError, ValidationError       ``stop``         this worker's own settings are wrong: the
(settings)                                          job goes back to the queue for another
                                                    worker and this worker group stops
StorageError, a full or            ``retry-         the operator's to fix: retried with backoff
read-only disk                     storage``        for ``KAPPACAT_WORKER_STORAGE_MAX_RETRIES``
anything else (a source that does  ``retry``        retried with backoff for
not answer, the network, the                        ``KAPPACAT_WORKER_MAX_RETRIES``, then failed;
database, a time limit)                             a plain re-ingest resumes it
=================================  ===============  =============================================
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from enum import StrEnum

from pydantic import ValidationError

from inference.errors import ModelCardError
from ingest.errors import BadInputError, ConfigError, JobLost, PublishError, StorageError
from ingest.settings import WorkerSettings


class Outcome(StrEnum):
    """What an error does to the job and the worker (see the module's table)."""

    DROP = "drop"
    FAIL = "fail"
    FAIL_CONFIG = "fail-config"
    STOP = "stop"
    RETRY_STORAGE = "retry-storage"
    RETRY = "retry"


STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})
"""A disk that is full or read-only (the scratch space of a worker, say)."""

POLICY: tuple[tuple[tuple[type[BaseException], ...], Outcome], ...] = (
    ((JobLost,), Outcome.DROP),
    ((BadInputError, PublishError), Outcome.FAIL),
    ((ModelCardError,), Outcome.FAIL_CONFIG),
    ((ConfigError, ValidationError), Outcome.STOP),
    ((StorageError,), Outcome.RETRY_STORAGE),
)
"""The table, first match wins; an error matching no row is :attr:`Outcome.RETRY`."""


def outcome(exc: BaseException) -> Outcome:
    """What ``exc``, raised by a stage, does to its job and worker."""
    for types, result in POLICY:
        if isinstance(exc, types):
            return result
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        return Outcome.RETRY_STORAGE
    return Outcome.RETRY


def retry_rule(worker: WorkerSettings) -> Callable[[int, BaseException], bool]:
    """Whether a stage that raised may run again after ``retries`` retries (dramatiq's
    ``retry_when``; the worker asks it too, to know whether to fail the job or release it).

    A ``stop`` error is retried: another worker, configured rightly, takes the message.
    """

    def retry_when(retries: int, exc: BaseException) -> bool:
        match outcome(exc):
            case Outcome.RETRY:
                return retries < worker.max_retries
            case Outcome.RETRY_STORAGE:
                return retries < worker.storage_max_retries
            case Outcome.STOP:
                return True
            case _:
                return False

    return retry_when

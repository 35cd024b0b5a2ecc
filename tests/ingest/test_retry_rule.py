"""Which faults are retried, and how often: the rule dramatiq's Retries and the workers share."""

from __future__ import annotations

import errno

from dramatiq.middleware import TimeLimitExceeded

from ingest.broker import retry_rule
from ingest.errors import BadInputError, StorageError
from ingest.settings import WorkerSettings


def test_bad_input_never_storage_longest_everything_else_max_retries() -> None:
    retry = retry_rule(WorkerSettings(max_retries=2, storage_max_retries=6))
    assert not retry(0, BadInputError("S2B_x: corrupt archive"))
    storage_faults = [
        StorageError("s3://masks: cannot store x: 403 Forbidden"),
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EROFS, "Read-only file system"),
    ]
    for fault in storage_faults:
        assert retry(5, fault) and not retry(6, fault), fault
    for fault in (ConnectionResetError("reset"), TimeLimitExceeded(), ValueError("x")):
        assert retry(1, fault) and not retry(2, fault), fault

"""Which faults are retried, and how often: the rule dramatiq's Retries and the workers share."""

from __future__ import annotations

import errno

from dramatiq.middleware import TimeLimitExceeded

from ingest.errors import BadInputError, StorageError
from ingest.policy import retry_rule
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


def test_every_error_kind_has_its_outcome() -> None:
    from pydantic import ValidationError

    from inference.errors import ModelCardError
    from inference.settings import InferenceSettings
    from ingest.errors import ConfigError, JobLost, PublishError
    from ingest.policy import Outcome, outcome

    try:
        InferenceSettings(threads="many")  # type: ignore[arg-type]
    except ValidationError as exc:
        bad_setting = exc
    cases = {
        JobLost("job 3 was taken back by recovery"): Outcome.DROP,
        BadInputError("S2B_x: corrupt archive"): Outcome.FAIL,
        PublishError("item 'x' is not valid STAC"): Outcome.FAIL,
        ModelCardError("my-card", "ONNX file not found: /models/x.onnx"): Outcome.FAIL_CONFIG,
        ConfigError("KAPPACAT_STORAGE_URL 'gs://x': use a directory, file:// or s3://"): (
            Outcome.STOP
        ),
        bad_setting: Outcome.STOP,
        StorageError("s3://masks: 403"): Outcome.RETRY_STORAGE,
        OSError(errno.ENOSPC, "No space left on device"): Outcome.RETRY_STORAGE,
        ConnectionResetError("reset"): Outcome.RETRY,
    }
    assert {exc: outcome(exc) for exc in cases} == cases
    retry = retry_rule(WorkerSettings(max_retries=2))
    # A worker's own bad settings: the message goes back, for another worker, every time.
    assert retry(50, bad_setting)
    assert not retry(0, ModelCardError("my-card", "ONNX file not found"))

"""Structured log lines that carry the job they are about.

Inside :func:`job_context` every log record gets ``job_id``, ``product`` and ``stage``
attributes (from a context variable, so threads of one worker do not mix them up); the JSON
formatter writes one object per line with them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_JOB: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "kappacat_job", default=None
)
_FIELDS = ("job_id", "product", "stage", "worker")


def worker_name() -> str:
    """This process as the job table names it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def job_context(job_id: int, product: str, stage: str) -> Iterator[None]:
    """Tag every log record made inside with the job."""
    token = _JOB.set({"job_id": job_id, "product": product, "stage": stage})
    try:
        yield
    finally:
        _JOB.reset(token)


class JobFilter(logging.Filter):
    """Adds the current job's fields (or None) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = _JOB.get() or {}
        for name in _FIELDS[:3]:
            if not hasattr(record, name):
                setattr(record, name, job.get(name))
        if not hasattr(record, "worker"):
            record.worker = worker_name()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(worker)s] job=%(job_id)s %(name)s: %(message)s"


def configure_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    """Send log records to stderr, as JSON lines or as text, each with the job it is about."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(JobFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("pika", "rasterio", "urllib3", "httpx", "botocore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

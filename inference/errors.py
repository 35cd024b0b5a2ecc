"""The inference engine's exceptions: one hierarchy, translated at the boundaries.

``ProductError`` means the input product itself is unusable (the ingest pipeline fails the job
once, without retrying); ``ModelCardError`` means the model card or its ONNX file is;
``SourceUnavailableError`` means the product's server did not answer (retried); every other
``InferenceError`` is a fault of the engine or its environment.
"""

from __future__ import annotations

import re
from urllib.error import HTTPError, URLError


class InferenceError(Exception):
    """Base class of every error raised by :mod:`inference`."""


class ProductError(InferenceError):
    """The source product cannot be read: bad, incomplete or unsupported input."""

    def __init__(self, product: str, problem: str) -> None:
        self.product = product
        self.problem = problem
        super().__init__(f"{product}: {problem}")


class ModelCardError(InferenceError):
    """A model card is invalid, its ONNX file is missing, or it does not fit the product."""

    def __init__(self, card: str, problem: str) -> None:
        self.card = card
        self.problem = problem
        super().__init__(f"model card {card}: {problem}")


class SourceUnavailableError(InferenceError):
    """The product's source did not answer (refused, timed out, HTTP 5xx or 429).

    Not a :class:`ProductError`: the product may be fine, and a later try may read it, so the
    ingest pipeline retries it with backoff.
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


RETRYABLE_HTTP = frozenset({408, 425, 429})
"""Client-error statuses that say "later", not "never"; every 5xx is retried too."""
_GDAL_HTTP_STATUS = re.compile(r"HTTP response code: (\d{3})")
_NETWORK_MESSAGES = (
    "Couldn't connect",
    "Could not resolve",
    "Connection refused",
    "Connection reset",
    "Timeout was reached",
    "timed out",
)
"""How GDAL (curl) reports a server that did not answer."""


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def http_status(exc: BaseException) -> int | None:
    """The HTTP status behind an exception (urllib's HTTPError or a GDAL message), if any."""
    for error in _chain(exc):
        if isinstance(error, HTTPError):
            return int(error.code)
        if match := _GDAL_HTTP_STATUS.search(str(error)):
            return int(match.group(1))
    return None


def is_unavailable(exc: BaseException) -> bool:
    """Whether an exception says the source did not answer, rather than that it is bad."""
    status = http_status(exc)
    if status is not None:
        return status >= 500 or status in RETRYABLE_HTTP
    for error in _chain(exc):
        if isinstance(error, (ConnectionError, TimeoutError, URLError)):
            return True
        if type(error).__module__.startswith("urllib3"):  # MaxRetryError, NewConnectionError
            return True
        if any(m in str(error) for m in _NETWORK_MESSAGES):
            return True
    return False


def read_failure(product: str, problem: str, exc: BaseException) -> InferenceError:
    """The error for a failed read: the source did not answer, or the product is bad."""
    if is_unavailable(exc):
        return SourceUnavailableError(product, problem)
    return ProductError(product, problem)

"""What the STAC API and the tiler share at the HTTP boundary: limits, security headers, CORS.

- :class:`RequestLimits`, the settings of how much one request may send or cost (each app's
  settings class inherits them under its own prefix, ``KAPPACAT_API_`` or ``KAPPACAT_TILER_``);
- :class:`SizeLimitMiddleware`, which refuses a query string or a body over the limits before
  anything parses them (a 70 MB AOI took 50 s and 690 MB to parse before the vertex limit
  refused it);
- :class:`SecurityHeadersMiddleware`: ``X-Content-Type-Options: nosniff`` on every answer and a
  ``Content-Security-Policy`` on the HTML pages;
- :class:`ReadWriteCorsMiddleware`: any listed origin may read, only the write origins may
  send the methods and credentials the write routes need;
- :func:`serve_supervised`: uvicorn under its process supervisor, also with one worker, and
  the metrics of all its workers on a listener of their own (:mod:`catalog.metrics`).

Every refusal is answered by the app's own error shape (``respond``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Mapping
from socket import socket
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn import Config
from uvicorn.supervisors import Multiprocess

from catalog.cql2 import FilterLimits
from catalog.metrics import MetricsFiles, MetricsSettings, metrics_files, metrics_listener

ErrorResponse = Callable[[int, str, str], Response]
"""The app's error answer: (status, code, description) -> response."""

SWAGGER_UI_POLICY = "; ".join(
    [
        "default-src 'self'",
        # FastAPI's page starts Swagger UI with an inline script; the bundle, its styles and
        # the icon come from the service itself (catalog.apidocs), never from a CDN
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'self'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)
"""The ``Content-Security-Policy`` of the API documentation page (``/api.html``)."""


class RequestLimits(BaseModel):
    """How much one request may send and cost; inherited by each service's settings class."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    max_body_bytes: int = Field(1_048_576, ge=1024)
    """Largest request body (bytes) a caller may send; a larger one is refused with 413 before
    it is read."""
    max_query_string_bytes: int = Field(16_384, ge=256)
    """Longest query string (bytes, as sent); a longer one is refused with 414 before it is
    parsed (use POST for long filters and geometries)."""
    statement_timeout_s: float = Field(10.0, gt=0, le=3600)
    """PostgreSQL ``statement_timeout`` of the service's connections: a query that runs longer
    is cancelled and the request answered with 503."""
    max_filter_length: int = Field(20_000, ge=100)
    """Most characters of a ``filter`` (CQL2 text, or CQL2 JSON as compact text)."""
    max_filter_depth: int = Field(20, ge=2, le=200)
    """Most levels a ``filter`` nests: parentheses, and operators chained in one comparison, in
    CQL2 text; operators, objects and arrays in CQL2 JSON. The cql2 parser crashes the process
    at about 1 600 levels; this is checked before it sees the filter."""
    max_filter_not_depth: int = Field(4, ge=1, le=50)
    """Most NOTs (``NOT``, ``NOT LIKE``, ``IS NOT NULL``...) a ``filter`` nests inside one
    another: validating 10 nested NOTs takes 186 MB, 300 take 9.9 GB."""

    def setting_name(self, field: str) -> str:
        """The environment variable of one of these settings (named in refusals)."""
        prefix = str(getattr(self, "model_config", {}).get("env_prefix", ""))
        return f"{prefix}{field}".upper()

    @property
    def filter_limits(self) -> FilterLimits:
        """The limits every ``filter`` is checked against."""
        return FilterLimits(
            max_length=self.max_filter_length,
            max_depth=self.max_filter_depth,
            max_not_depth=self.max_filter_not_depth,
            setting_prefix=self.setting_name(""),
        )

    @property
    def statement_timeout_ms(self) -> int:
        """``statement_timeout`` as PostgreSQL takes it."""
        return max(int(self.statement_timeout_s * 1000), 1)


class SizeLimitMiddleware:
    """Refuses a query string (414) or a body (413) over the limits, before the app reads it.

    A ``Content-Length`` over the limit is refused at once; a body sent without one is
    counted as it arrives, and once over the limit the caller gets the 413 and the app sees
    the client gone. ``body_limit(scope)`` may choose another limit for some requests (a
    caller with a valid key): it answers the limit and the name of its setting.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: RequestLimits,
        respond: ErrorResponse,
        body_limit: Callable[[Scope], tuple[int, str]] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.respond = respond
        self.body_limit = body_limit or (lambda scope: (limits.max_body_bytes, "max_body_bytes"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the query string and the declared length, then count the body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = len(scope.get("query_string", b""))
        if query > self.limits.max_query_string_bytes:
            name = self.limits.setting_name("max_query_string_bytes")
            message = (
                f"the query string has {query} bytes, more than the limit of "
                f"{self.limits.max_query_string_bytes} ({name}); send a POST body instead"
            )
            await self.respond(414, "QueryStringTooLong", message)(scope, receive, send)
            return
        limit, setting = self.body_limit(scope)
        name = self.limits.setting_name(setting)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            message = f"the body has {declared} bytes, more than the limit of {limit} ({name})"
            await self.respond(413, "BodyTooLarge", message)(scope, receive, send)
            return
        await self.app(scope, *self._counting(scope, receive, send, limit, name))

    def _counting(
        self, scope: Scope, receive: Receive, send: Send, limit: int, name: str
    ) -> tuple[Receive, Send]:
        """``receive`` and ``send`` that cut a body off at ``limit`` with a 413."""
        state = {"received": 0, "started": False, "refused": False}

        async def counted_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["refused"] = True
                    if not state["started"]:
                        text = f"the body has more than {limit} bytes, the limit ({name})"
                        await self.respond(413, "BodyTooLarge", text)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # the caller already has its 413
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        return counted_receive, guarded_send


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff`` on every answer; a CSP on each HTML page.

    ``policies`` maps the path of a page (after the root path) to its
    ``Content-Security-Policy``; ``default_policy`` is for any other HTML answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        policies: Mapping[str, str] | None = None,
        default_policy: str = "default-src 'none'; frame-ancestors 'none'",
    ) -> None:
        self.app = app
        self.policies = dict(policies or {})
        self.default_policy = default_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Decorate the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"].removeprefix(root) if root else scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").startswith("text/html"):
                    policy = self.policies.get(path, self.default_policy)
                    headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ReadWriteCorsMiddleware:
    """CORS with two policies: any of ``read_origins`` may read, only ``write_origins`` write.

    A page from a read origin may send the safe methods and POST (searches), with the
    CORS-safelisted headers and ``read_headers``; a browser asks first (preflight) before a
    PUT, PATCH or DELETE or before sending ``Authorization`` or ``X-API-Key``, and only a write
    origin gets a yes. No cookies are involved, so no credentials are allowed.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        read_origins: Collection[str],
        write_origins: Collection[str] = (),
        read_headers: Collection[str] = (),
        write_headers: Collection[str] = ("Authorization", "X-API-Key"),
        expose_headers: Collection[str] = (),
        max_age: int = 600,
    ) -> None:
        common: dict[str, Any] = {"expose_headers": list(expose_headers), "max_age": max_age}
        self.read = CORSMiddleware(
            app,
            allow_origins=list(read_origins),
            allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
            allow_headers=list(read_headers),
            **common,
        )
        self.write = CORSMiddleware(
            app,
            allow_origins=list(write_origins),
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[*read_headers, *write_headers],
            **common,
        )
        self.write_origins = set(write_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer with the policy of the request's origin."""
        if scope["type"] == "http" and self.write_origins:
            origin = Headers(scope=scope).get("origin")
            if origin is not None and (origin in self.write_origins or "*" in self.write_origins):
                await self.write(scope, receive, send)
                return
        await self.read(scope, receive, send)


def serve_supervised(
    factory: str,
    *,
    host: str,
    port: int,
    workers: int,
    metrics: MetricsSettings | None = None,
    **options: Any,
) -> None:
    """Serve the app that ``factory`` (``module:function``) builds with uvicorn's multiprocess
    supervisor, whatever the number of workers.

    The supervisor replaces a worker that dies (a crash, the OOM killer) or stops answering its
    health ping, so a process lost to a request no guard caught costs that process's requests,
    not the service. uvicorn alone runs one worker without a supervisor.

    With ``metrics`` (and a ``metrics_port``), the workers count their requests into one
    multiprocess directory and the supervisor serves the sum on its own listener
    (:mod:`catalog.metrics`).
    """
    config = Config(factory, factory=True, host=host, port=port, workers=workers, **options)
    with contextlib.ExitStack() as stack:
        files = None
        if metrics is not None and metrics.metrics_port:
            files = stack.enter_context(metrics_files(metrics.metrics_dir))
            setting = f"{metrics.model_config.get('env_prefix', '')}METRICS_PORT".upper()
            stack.enter_context(
                metrics_listener(
                    files.registry(), metrics.metrics_host, metrics.metrics_port, setting
                )
            )
        _Supervisor(config, [config.bind_socket()], files).run()


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, forgetting the metrics of each worker it replaces."""

    def __init__(self, config: Config, sockets: list[socket], files: MetricsFiles | None) -> None:
        super().__init__(config, sockets)
        self.files = files

    def _forget_gone(self, before: set[int | None]) -> None:
        if self.files is None:
            return
        for pid in before - {p.pid for p in self.processes}:
            if pid is not None:
                self.files.forget(pid)

    def keep_subprocess_alive(self) -> None:
        """Replace dead workers (uvicorn), then drop their live gauges."""
        before = {p.pid for p in self.processes}
        super().keep_subprocess_alive()
        self._forget_gone(before)

    def restart_all(self) -> None:
        """Replace every worker (SIGHUP, uvicorn), then drop the old ones' live gauges."""
        before = {p.pid for p in self.processes}
        super().restart_all()
        self._forget_gone(before)

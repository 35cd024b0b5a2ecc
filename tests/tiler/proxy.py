"""A reverse proxy that serves an upstream under a path prefix, as nginx's ``location`` does."""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.servers import http_server

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"}


@contextlib.contextmanager
def prefix_proxy(upstream: str, prefix: str) -> Iterator[str]:
    """Serve ``upstream`` under ``prefix`` (stripped before forwarding); yields the proxy's URL.

    The Host header is passed on unchanged, so the upstream builds links to the proxy.
    """
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _forward(self) -> None:
            if not (self.path == prefix or self.path.startswith(prefix + "/")):
                self.send_error(404, "outside the proxied prefix")
                return
            path = self.path[len(prefix) :] or "/"
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["X-Forwarded-Prefix"] = prefix
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                conn.request(self.command, path, body=body, headers=headers)
                response = conn.getresponse()
                content = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            finally:
                conn.close()

        def _serve(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._forward()

        do_GET = do_POST = do_HEAD = _serve

    with http_server(Handler) as base:
        yield f"{base}{prefix}"

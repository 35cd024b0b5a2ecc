"""A static file server on loopback for tests: byte ranges (as GDAL's /vsicurl/ needs) and
scripted failures (a path answers the given statuses before it serves the file)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tests.servers import http_server


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with byte ranges; ``script[path]`` lists statuses to answer first."""

    script: dict[str, list[int]]
    served: list[str]

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""

    def send_head(self) -> io.BytesIO | BinaryIO | None:
        self.served.append(self.path)
        statuses = self.script.get(self.path)
        if statuses:
            status = statuses[0] if len(statuses) == 1 else statuses.pop(0)
            if status != 200:
                self.send_error(status)
                return None
        header = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not header or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start_text, _, end_text = header.removeprefix("bytes=").partition("-")
        start = int(start_text)
        end = min(int(end_text) if end_text else size - 1, size - 1)
        with path.open("rb") as stream:
            stream.seek(start)
            body = stream.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(body)


@contextlib.contextmanager
def serve_directory(
    directory: Path, script: dict[str, list[int]] | None = None
) -> Iterator[tuple[str, list[str]]]:
    """Serve ``directory``; yields the base URL and the list of paths requested so far.

    ``script`` maps a path to statuses answered one per request before the file is served
    (the last one repeats: ``[503]`` always fails, ``[200, 503, 200]`` fails once).
    """
    served: list[str] = []
    handler_class = type("Handler", (RangeHandler,), {"script": script or {}, "served": served})
    handler = functools.partial(handler_class, directory=str(directory))
    with http_server(handler) as base:
        yield base, served

"""A small HTTP/1.1 load generator: N keep-alive clients on loopback, latency per request."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class RunResult:
    """Latencies (ms) of one run of requests against one server (of images: 200 answers)."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of the latencies of answered requests."""
        values = sorted(self.latencies_ms)
        if not values:
            return float("nan")
        rank = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
        return values[rank]

    def summary(self) -> dict[str, float]:
        """p50, p95, mean (ms), throughput (requests/s) and the share of 200 answers."""
        n = len(self.latencies_ms)
        total = sum(self.statuses.values())
        return {
            "p50_ms": round(self.percentile(50), 2),
            "p95_ms": round(self.percentile(95), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if n else float("nan"),
            "rps": round(total / self.wall_s, 1) if self.wall_s else 0.0,
            "ok_share": round(n / total, 4) if total else 0.0,
        }


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> tuple[int, int]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    size = 0
    if headers.get("transfer-encoding") == "chunked":
        while True:
            chunk = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(chunk + 2)
            size += chunk
            if chunk == 0:
                break
    elif "content-length" in headers:
        size = int(headers["content-length"])
        await reader.readexactly(size)
    return status, size


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _client(host: str, queue: asyncio.Queue[str], out: RunResult, conn: Connection) -> None:
    reader, writer = conn
    try:
        while True:
            try:
                path = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            start = time.perf_counter()
            status, _ = await _request(reader, writer, host, path)
            if status == 200:  # empty tiles (204) and tiles off the raster (404) are cheap
                out.latencies_ms.append((time.perf_counter() - start) * 1000)
            out.statuses[status] = out.statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _run(base: str, paths: list[str], clients: int) -> RunResult:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    result = RunResult()
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    # Clients connect one after the other, each answered once before the next connects, so a
    # server's worker processes share them; opened in the same instant, all of them go to the
    # one process whose event loop accepts first (asyncio accepts a whole backlog at once).
    connections = []
    for _ in range(clients):
        conn = await asyncio.open_connection(host, port)
        await _request(*conn, f"{host}:{port}", "/healthz")
        connections.append(conn)
    start = time.perf_counter()
    await asyncio.gather(*(_client(f"{host}:{port}", queue, result, c) for c in connections))
    result.wall_s = time.perf_counter() - start
    return result


def run(base: str, paths: list[str], clients: int) -> RunResult:
    """Send ``paths`` to ``base`` from ``clients`` concurrent keep-alive connections."""
    return asyncio.run(_run(base, paths, clients))

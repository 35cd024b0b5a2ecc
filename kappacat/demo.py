"""``kappacat demo``: the whole catalogue on one machine, in private services, in one command.

Starts PostgreSQL (with PostGIS) and Redis privately under a project-local data folder on free
ports (never touching services already running), migrates, generates sample products of
different dates over one area, runs the pipeline with local workers until every mask is
published, then serves the STAC API and the tiler and prints their URLs. Running it again
reuses the data. ``--check`` exits once everything answers (for CI).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import psycopg
import typer
from psycopg import sql

from kappacat.localdb import LocalServerError, free_port, postgres_server

API_HEALTH = "/_mgmt/health"
TILER_HEALTH = "/healthz"


class DemoError(RuntimeError):
    """A demo step failed; the message says which and why."""


def say(text: str) -> None:
    """One progress line."""
    typer.secho(f"==> {text}", fg=typer.colors.CYAN)


@contextlib.contextmanager
def redis_server(root: Path) -> Iterator[str]:
    """A private Redis on a free port (no persistence: the job table is the record)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise DemoError("redis-server is not installed (apt-get install redis-server)")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--logfile",
            str(root / "redis.log"),
        ],
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        _wait(lambda: _redis_answers(port), 20, "Redis")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.exceptions.ConnectionError:
        return False


def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise DemoError(f"{what} did not answer within {timeout:.0f} s")


def _ensure_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _kappacat(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "kappacat", *args], env=env, check=False)
    if result.returncode != 0:
        raise DemoError(f"kappacat {' '.join(args)} failed with exit code {result.returncode}")


def _jobs(env: dict[str, str]) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-m", "kappacat", "jobs", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out)["counts"])


def _generate(products: Path, count: int, size: int) -> list[Path]:
    from inference.sample import write_sample_product

    products.mkdir(parents=True, exist_ok=True)
    paths = []
    start = date(2024, 6, 3)
    for i in range(count):
        marker = products / f"sample-{i}.txt"
        if marker.exists():
            paths.append(Path(marker.read_text().strip()))
            continue
        say(f"generating sample product {i + 1}/{count} ({size} x {size} px)")
        sp = write_sample_product(
            products,
            size=size,
            level="L1C" if i % 2 == 0 else "L2A",
            seed=i,
            date=start + timedelta(days=5 * i),
        )
        marker.write_text(str(sp.path))
        paths.append(sp.path)
    return paths


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kappacat", *args],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        # As servers bind: a port in TIME_WAIT after the last run is free to use.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(data_dir: Path) -> tuple[int, int]:
    """The API and tiler ports: chosen once, then kept, because published hrefs name them."""
    path = data_dir / "ports.json"
    if path.exists():
        ports = json.loads(path.read_text())
        api, tiler = int(ports["api"]), int(ports["tiler"])
        for port in (api, tiler):
            if not _port_free(port):
                raise DemoError(
                    f"port {port} of {data_dir} is taken (is the demo already running?)"
                )
        return api, tiler
    api, tiler = free_port(), free_port()
    path.write_text(json.dumps({"api": api, "tiler": tiler}))
    return api, tiler


def run_demo(data_dir: Path, products: int, size: int, check: bool, workers: int) -> None:
    """Everything the demo does; see the module docstring."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)
    storage, logs = data_dir / "storage", data_dir / "logs"
    storage.mkdir(exist_ok=True)
    logs.mkdir(exist_ok=True)
    api_port, tiler_port = _ports(data_dir)
    api, tiler = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{tiler_port}"
    with contextlib.ExitStack() as stack:
        say(f"starting PostgreSQL in {data_dir / 'postgres'}")
        admin = stack.enter_context(postgres_server(data_dir / "postgres"))
        database = _ensure_database(admin, "kappacat")
        say("starting Redis")
        broker = stack.enter_context(redis_server(data_dir / "redis"))
        env = {
            **os.environ,
            "KAPPACAT_DATABASE_URL": database,
            "KAPPACAT_BROKER_URL": broker,
            "KAPPACAT_STORAGE_URL": str(storage),
            "KAPPACAT_STORAGE_PUBLIC_URL": f"{api}/assets",
            "KAPPACAT_API_ASSETS_DIR": str(storage),
            # the API serves the masks at /assets; the tiler reads the same files directly
            "KAPPACAT_TILER_STORAGE_ROOTS": f"{api}/assets/={storage}",
            "KAPPACAT_TILER_API_URL": api,
            "KAPPACAT_WORKER_METRICS_PORT": "0",
            "KAPPACAT_WORKER_LOG_FORMAT": "text",
        }
        say("migrating the database")
        _kappacat(["migrate"], env)
        paths = _generate(data_dir / "products", products, size)
        say("serving the STAC API (it also serves the stored masks)")
        stack.enter_context(
            _process(["serve", "api", "--port", str(api_port)], env, logs / "api.log")
        )
        _wait(lambda: _healthy(api + API_HEALTH), 60, "the STAC API")
        say(f"submitting {len(paths)} products and running {workers} worker process(es)")
        _kappacat(["ingest", *map(str, paths)], env)
        stack.enter_context(
            _process(["worker", "--processes", str(workers)], env, logs / "worker.log")
        )
        _wait_for_jobs(env)
        say("serving the tiler")
        stack.enter_context(
            _process(["serve", "tiler", "--port", str(tiler_port)], env, logs / "tiler.log")
        )
        _wait(lambda: _healthy(tiler + TILER_HEALTH), 60, "the tiler")
        _print_urls(api, tiler)
        if check:
            _check(api, tiler)
            say("everything answers; --check stops here")
            return
        typer.echo("Press Ctrl-C to stop everything the demo started.")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


def _wait_for_jobs(env: dict[str, str], timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    with typer.progressbar(length=100, label="masks published") as bar:
        shown = 0
        while time.monotonic() < deadline:
            counts = _jobs(env)
            total = sum(counts.values()) or 1
            done = sum(counts.get(s, 0) for s in ("succeeded", "failed", "skipped"))
            pct = int(100 * done / total)
            bar.update(pct - shown)
            shown = pct
            if done == total:
                break
            time.sleep(2)
        else:
            raise DemoError(f"the pipeline did not finish within {timeout:.0f} s: {counts}")
    if counts.get("failed"):
        raise DemoError(f"{counts['failed']} job(s) failed; see `kappacat jobs --status failed`")


def _print_urls(api: str, tiler: str) -> None:
    typer.echo("")
    typer.secho("KappaCat is running:", bold=True)
    typer.echo(f"  STAC API   {api}/")
    typer.echo(f"  API docs   {api}/api.html")
    typer.echo(f"  Web map    {tiler}/viewer")
    typer.echo("")
    typer.echo("Search it from Python:")
    typer.echo(
        "  from pystac_client import Client\n"
        f"  catalog = Client.open({api!r})\n"
        "  search = catalog.search(\n"
        "      collections=['sentinel-2-l1c-kappamask'],\n"
        "      filter={'op': '<', 'args': [{'property': 'eo:cloud_cover'}, 50]})\n"
        "  for item in search.items():\n"
        "      print(item.id, item.properties['eo:cloud_cover'], item.assets['mask'].href)\n"
    )


def _check(api: str, tiler: str) -> None:
    import morecantile
    from pystac_client import Client

    items = list(
        Client.open(api)
        .search(collections=["sentinel-2-l1c-kappamask", "sentinel-2-l2a-kappamask"])
        .items()
    )
    if not items:
        raise DemoError("the STAC API answers but holds no masks")
    mask = items[0].assets["mask"].href
    if httpx.head(mask, timeout=10).status_code != 200:
        raise DemoError(f"the mask of {items[0].id} cannot be read at {mask}")
    west, south, east, north = items[0].bbox or (0.0, 0.0, 0.0, 0.0)
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, 12)
    url = (
        f"{tiler}/collections/{items[0].collection_id}/items/{items[0].id}"
        f"/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
    )
    drawn = httpx.get(url, timeout=30)
    if drawn.status_code != 200 or not drawn.content.startswith(b"\x89PNG"):
        problem = f"{drawn.status_code} {drawn.text[:200]}"
        raise DemoError(f"the tiler cannot draw {items[0].id}: {problem}")
    viewer = httpx.get(f"{tiler}/viewer", timeout=10)
    if viewer.status_code != 200 or "maplibre" not in viewer.text.lower():
        raise DemoError("the web map page does not load")
    typer.echo(
        f"checked: {len(items)} masks searchable, mask COG readable, a tile drawn, web map served"
    )


def demo_command(
    data_dir: Path = typer.Option(Path(".data/demo"), help="Where the demo keeps its data."),
    products: int = typer.Option(4, min=1, help="Sample products to generate."),
    size: int = typer.Option(1098, min=366, help="Sample product size in 10 m pixels."),
    workers: int = typer.Option(2, min=1, help="Worker processes."),
    check: bool = typer.Option(False, "--check", help="Exit once everything answers."),
) -> None:
    """Run the whole catalogue locally with sample masks (private PostgreSQL and Redis)."""
    try:
        run_demo(data_dir, products, size, check, workers)
    except (DemoError, LocalServerError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc

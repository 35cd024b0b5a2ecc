"""``kappacat demo``: the whole catalogue on one machine, in private services, in one command.

Starts PostgreSQL (with PostGIS) and Redis privately under a project-local data folder on free
ports (never touching services already running), migrates, generates sample products of
different dates over one area, runs the pipeline with local workers until every mask is
published, then serves the STAC API and the tiler and prints their URLs, and where each component's
Prometheus metrics are (on loopback). Running it again
reuses the data. ``--check`` exits once everything answers (for CI).

Every process it starts dies with it, however it is stopped (see :mod:`kappacat.children`);
what an earlier run left behind anyway is found from the pid files under ``run/`` and stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from types import FrameType

import httpx
import psycopg
import typer
from psycopg import sql

from kappacat.children import ChildError, PidFile, child, stop_stale
from kappacat.demo_checks import (
    DemoError,
    check_catalogue,
    check_metrics,
    move_links,
    print_urls,
)
from kappacat.localdb import LocalServerError, free_port, postgres_server, redis_server

API_HEALTH = "/_mgmt/health"
TILER_HEALTH = "/healthz"
PREFERRED_PORTS = {
    "api": 8081,
    "tiler": 8082,
    "api metrics": 9181,
    "tiler metrics": 9182,
    "worker metrics": 9191,
}
"""The ports the README, docker-compose.yml and the QGIS recipe name (and the metrics
listeners' defaults), used when free."""
FIRST_DAY = date(2024, 6, 3)
"""The first sample product's date; the others follow every five days."""


def say(text: str) -> None:
    """One progress line."""
    typer.secho(f"==> {text}", fg=typer.colors.CYAN)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
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
            date=FIRST_DAY + timedelta(days=5 * i),
        )
        marker.write_text(str(sp.path))
        paths.append(sp.path)
    return paths


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # As servers bind: a port in TIME_WAIT after the last run is free to use.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(data_dir: Path) -> tuple[dict[str, int], dict[str, int]]:
    """The API and tiler ports of this run, and those of the last run (published hrefs name
    them): the last run's when still free, else the preferred ones, else any free port."""
    path = data_dir / "ports.json"
    last: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
    ports: dict[str, int] = {}
    for name, preferred in PREFERRED_PORTS.items():
        for candidate in (last.get(name), preferred):
            if candidate and candidate not in ports.values() and _port_free(int(candidate)):
                ports[name] = int(candidate)
                break
        else:
            ports[name] = free_port()
            say(f"port {preferred} is taken: the {name} listens on {ports[name]} instead")
    path.write_text(json.dumps(ports))
    return ports, last


@contextlib.contextmanager
def _serving(
    run_dir: Path, args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``kappacat ARGS`` as a child of the demo, logging to ``log``."""
    name = args[1] if args[0] == "serve" else args[0]  # "api", "tiler", "worker"
    with (
        log.open("ab") as out,
        child(
            [sys.executable, "-m", "kappacat", *args],
            pidfile=PidFile(run_dir / f"{name}.pid"),
            what=f"kappacat {' '.join(args)}",
            env=env,
            output=out,
            new_session=True,
        ) as proc,
    ):
        yield proc


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP (a closed terminal) end the demo as Ctrl-C does: cleaning up."""

    def leave(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGHUP, leave)


@contextlib.contextmanager
def _this_run(run_dir: Path) -> Iterator[None]:
    """Refuse to run twice on one folder; stop what a killed run left; record this run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    me = PidFile(run_dir / "demo.lock")
    if (other := me.running()) is not None and other != os.getpid():
        raise DemoError(
            f"the demo of {run_dir.parent} is already running (pid {other}); "
            "stop it first (Ctrl-C in its terminal, or kill it)"
        )
    left = stop_stale(run_dir)
    if left:
        say(f"stopped what an earlier run left behind: {', '.join(left)}")
    me.write(os.getpid(), "kappacat demo")
    try:
        yield
    finally:
        me.remove()


def run_demo(data_dir: Path, products: int, size: int, check: bool, workers: int) -> None:
    """Everything the demo does; see the module docstring."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)
    storage, logs, run_dir = data_dir / "storage", data_dir / "logs", data_dir / "run"
    storage.mkdir(exist_ok=True)
    logs.mkdir(exist_ok=True)
    _stop_on_signals()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_this_run(run_dir))
        ports, last_ports = _ports(data_dir)
        api, tiler = (f"http://127.0.0.1:{ports[n]}" for n in ("api", "tiler"))
        say(f"starting PostgreSQL in {data_dir / 'postgres'}")
        admin = stack.enter_context(postgres_server(data_dir / "postgres"))
        database = _ensure_database(admin, "kappacat")
        say("starting Redis")
        broker = stack.enter_context(redis_server(data_dir / "redis"))
        # The three shared settings, and where the API is: every component derives the rest
        # (the API serves the storage under /assets, the tiler reads the same files).
        env = {
            **os.environ,
            "KAPPACAT_DATABASE_URL": database,
            "KAPPACAT_BROKER_URL": broker,
            "KAPPACAT_STORAGE_URL": str(storage),
            "KAPPACAT_STORAGE_PUBLIC_URL": f"{api}/assets",
            "KAPPACAT_TILER_API_URL": api,
            # every metrics listener on loopback (the default host), on this run's ports
            "KAPPACAT_API_METRICS_PORT": str(ports["api metrics"]),
            "KAPPACAT_TILER_METRICS_PORT": str(ports["tiler metrics"]),
            "KAPPACAT_WORKER_METRICS_PORT": str(ports["worker metrics"]),
            "KAPPACAT_API_TILER_URL": tiler,
            "KAPPACAT_WORKER_LOG_FORMAT": "text",
        }
        say("migrating the database")
        _kappacat(["migrate"], env)
        if last_ports and last_ports.get("api") != ports["api"]:
            old = f"http://127.0.0.1:{last_ports['api']}/assets"
            moved = move_links(database, old, f"{api}/assets")
            say(f"moved the links of {moved} published item(s) to {api}")
        paths = _generate(data_dir / "products", products, size)
        say("serving the STAC API (it also serves the stored masks)")
        api_args = ["serve", "api", "--port", str(ports["api"])]
        stack.enter_context(_serving(run_dir, api_args, env, logs / "api.log"))
        _wait(lambda: _healthy(api + API_HEALTH), 60, "the STAC API")
        say(f"submitting {len(paths)} products and running {workers} worker process(es)")
        _kappacat(["ingest", *map(str, paths)], env)
        worker_args = ["worker", "--processes", str(workers)]
        stack.enter_context(_serving(run_dir, worker_args, env, logs / "worker.log"))
        _wait_for_jobs(env)
        say("serving the tiler")
        tiler_args = ["serve", "tiler", "--port", str(ports["tiler"])]
        stack.enter_context(_serving(run_dir, tiler_args, env, logs / "tiler.log"))
        _wait(lambda: _healthy(tiler + TILER_HEALTH), 60, "the tiler")
        metrics = {
            name: f"http://127.0.0.1:{ports[f'{name} metrics']}/metrics"
            for name in ("api", "tiler", "worker")
        }
        print_urls(api, tiler, metrics)
        if check:
            check_catalogue(api, tiler)
            check_metrics(metrics)
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
    except (DemoError, LocalServerError, ChildError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc

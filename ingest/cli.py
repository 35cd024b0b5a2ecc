"""``kappacat worker``, ``ingest``, ``discover``, ``jobs`` and ``reconcile``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import typer

from ingest.errors import IngestError
from ingest.settings import STAGES

if TYPE_CHECKING:
    from ingest.discover import Search
    from ingest.models import ModelChoice
    from ingest.pipeline import Pipeline, SourceRef


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


@contextlib.contextmanager
def _failing(prefix: str = "") -> Iterator[None]:
    """Turn the pipeline's, the database's and the broker's errors into an error exit."""
    from ingest.pipeline import BROKER_ERRORS

    try:
        yield
    except IngestError as exc:
        raise _fail(f"{prefix}{exc}") from exc
    except psycopg.Error as exc:
        raise _fail(f"database: {exc}") from exc
    except BROKER_ERRORS as exc:
        raise _fail(f"broker: {exc}") from exc


def _pipeline() -> Pipeline:
    from catalog.settings import DatabaseSettings
    from ingest.broker import make_broker
    from ingest.jobs import JobStore
    from ingest.pipeline import Pipeline
    from ingest.settings import BrokerSettings, WorkerSettings

    broker_settings, worker = BrokerSettings(), WorkerSettings()
    broker = make_broker(broker_settings, worker)
    return Pipeline(JobStore(DatabaseSettings().url, timeout=10), broker, broker_settings, worker)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def worker_command(
    queues: list[str] = typer.Option(
        None, "--queues", "-Q", help=f"Stages to take ({', '.join(STAGES)}); default all."
    ),
    processes: int = typer.Option(os.cpu_count() or 1, min=1, help="Worker processes."),
    threads: int = typer.Option(1, min=1, help="Threads per worker process."),
) -> None:
    """Run workers that take jobs from the queues (one process per core by default).

    A worker process that dies is replaced; the recovery sweep runs beside them.
    """
    from functools import partial

    from catalog.settings import StorageSettings
    from ingest.broker import broker_kind
    from ingest.logs import configure_logging
    from ingest.settings import BrokerSettings, WorkerSettings
    from ingest.storage import open_storage

    broker_settings, settings = BrokerSettings(), WorkerSettings()
    try:
        broker_kind(broker_settings.url)
        open_storage(StorageSettings())
    except IngestError as exc:
        raise _fail(str(exc)) from exc
    stages = _split(queues)
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise _fail(f"unknown queue(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    metrics_dir = tempfile.mkdtemp(prefix="kappacat-metrics-") if settings.metrics_port else None
    if metrics_dir is not None:
        # Before anything imports prometheus_client (ingest.worker does): it picks its
        # multiprocess mode at import, and every process of the group is forked from this one.
        # dramatiq's Prometheus middleware writes its counts into the same directory.
        os.environ.update(
            {"PROMETHEUS_MULTIPROC_DIR": metrics_dir, "dramatiq_prom_db": metrics_dir}
        )

    from ingest.supervisor import ProcessSpec, WorkerGroup
    from ingest.worker import metrics_process, sweep_process, worker_process

    configure_logging(settings.log_format)
    queue_names = [broker_settings.queue_name(s) for s in stages]
    stop_s = settings.infer_time_limit_s
    specs = [
        ProcessSpec(f"worker-{n}", partial(worker_process, queue_names, threads, stop_s))
        for n in range(1, processes + 1)
    ]
    if settings.sweep_interval_s > 0:
        specs.append(ProcessSpec("sweep", sweep_process))
    on_death = None
    if metrics_dir is not None:
        specs.append(ProcessSpec("metrics", metrics_process))

        def on_death(pid: int) -> None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, metrics_dir)

    group = WorkerGroup(specs, stop_timeout_s=stop_s + 30, on_death=on_death)
    try:
        code = group.run()
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    raise typer.Exit(code)


def _model(model: str | None) -> ModelChoice:
    from ingest.models import ModelChoice
    from ingest.settings import SubmitSettings

    try:
        return ModelChoice(model or SubmitSettings().model)
    except IngestError as exc:
        raise _fail(str(exc)) from exc


def ingest_command(
    sources: list[str] = typer.Argument(
        ..., help="SAFE directories, zips, STAC item files or URLs, folders to scan."
    ),
    model: str = typer.Option(None, help="Model card (name or file); the default card if unset."),
    force: bool = typer.Option(False, "--force", help="Make the mask again even if it exists."),
) -> None:
    """Submit products: one job per (product, model); known products are left alone."""
    from ingest.sources import expand

    choice = _model(model)
    refs: list[SourceRef] = []
    with _failing(prefix="nothing was submitted: "):
        for source in sources:
            refs.extend(expand(source))
    with _failing():
        pipeline = _pipeline()
        try:
            outcomes = pipeline.submit(refs, choice, force=force)
        finally:
            pipeline.close()
    for outcome in outcomes:
        job = outcome.job
        what = (
            "queued"
            if outcome.created
            else "queued again"
            if outcome.reset
            else f"resumed at {job.stage}"
            if outcome.resumed
            else job.status
        )
        typer.echo(f"job {job.id} {job.product_id}: {what}")
    new = sum(o.dispatch for o in outcomes)
    models = ", ".join(sorted({o.job.model for o in outcomes})) or "-"
    typer.echo(f"submitted {new} of {len(outcomes)} product(s) (model {models})")


def discover_command(
    stac_url: str = typer.Option(..., "--stac-url", help="The provider's STAC API."),
    collection: list[str] = typer.Option(..., "--collection", help="Source collection(s)."),
    bbox: str = typer.Option(None, help="west,south,east,north in degrees."),
    intersects: Path = typer.Option(None, help="A GeoJSON file with the area."),
    datetime: str = typer.Option(None, "--datetime", help="RFC 3339 instant or interval."),
    max_cloud: float = typer.Option(None, help="Only products with eo:cloud_cover at most this."),
    limit: int = typer.Option(None, min=1, help="Submit at most this many products."),
    aoi: str = typer.Option(None, help="A named area: europe."),
    model: str = typer.Option(None, help="Model card (name or file); the default card if unset."),
    force: bool = typer.Option(False, "--force", help="Make masks again even if they exist."),
    max_queued: int = typer.Option(None, help="Wait while more jobs are active (back-pressure)."),
    follow: bool = typer.Option(
        False, "--follow", help="Keep searching for what is new (a cursor in the database)."
    ),
    backfill: bool = typer.Option(
        False, "--backfill", help="Walk --datetime START/END in date windows, resumably."
    ),
) -> None:
    """Search a STAC API for products and submit the new ones, at the pace workers take them.

    With --follow it keeps doing so, asking only for what is new since its cursor; with
    --backfill it walks the --datetime interval window by window. Both resume where they
    stopped, and wait while the queue is full or the provider is down.
    """
    from ingest.discover import AOIS, Search, discover, read_geometry
    from ingest.settings import SubmitSettings

    if follow and backfill:
        raise _fail("--follow and --backfill: run them as two commands")
    if (follow or backfill) and (force or limit):
        what = "--follow" if follow else "--backfill"
        raise _fail(f"{what} submits each product once: it does not take --force or --limit")

    submit = SubmitSettings()
    area: list[float] | None = None
    if bbox:
        try:
            area = [float(v) for v in bbox.split(",")]
        except ValueError as exc:
            raise _fail(f"--bbox {bbox!r}: give four numbers west,south,east,north") from exc
        if len(area) != 4:
            raise _fail(f"--bbox {bbox!r}: give four numbers west,south,east,north")
    if aoi:
        if aoi not in AOIS:
            raise _fail(f"--aoi {aoi!r}: known areas are {', '.join(AOIS)}")
        area = area or AOIS[aoi]
    choice = _model(model)
    with _failing():
        pipeline = _pipeline()
        try:
            search = Search(
                stac_url=stac_url,
                collections=_split(collection),
                bbox=area,
                intersects=read_geometry(intersects) if intersects else None,
                datetime=datetime,
                max_cloud=max_cloud,
                limit=limit,
            )
            if follow or backfill:
                _follow(pipeline, search, choice, max_queued or submit.max_queued, backfill)
                return
            report = discover(
                pipeline,
                search,
                model=choice,
                force=force,
                max_queued=max_queued or submit.max_queued,
                poll_s=submit.poll_s,
                on_wait=lambda n: typer.echo(f"{n} jobs active; waiting for the queue to drain"),
            )
        finally:
            pipeline.close()
    typer.echo(report.line())


def _follow(
    pipeline: Pipeline, search: Search, model: ModelChoice, max_queued: int, backfill: bool
) -> None:
    """Run a follower (until interrupted) or a backfill (to its end), logging what it does."""
    from ingest.follow import Follower, parse_interval
    from ingest.logs import configure_logging
    from ingest.settings import FollowSettings, WorkerSettings

    configure_logging(WorkerSettings().log_format)
    # requests' own retries of a provider that is down: the follower says so once per try
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    follower = Follower(
        pipeline, search, model=model, settings=FollowSettings(), max_queued=max_queued
    )
    if not backfill:
        with contextlib.suppress(KeyboardInterrupt):
            follower.follow()
        return
    start, end = parse_interval(search.datetime)
    if start is None or end is None or start >= end:
        raise _fail("--backfill needs --datetime START/END, with START before END")
    walked = follower.backfill(start, end)
    typer.echo(f"backfill done: {walked.seen} product(s) found, {walked.submitted} submitted")


def jobs_command(
    status: list[str] = typer.Option(None, "--status", help="Only jobs with this status."),
    watch: bool = typer.Option(False, "--watch", help="Show progress until no job is active."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    limit: int = typer.Option(50, min=1, help="Jobs to list."),
    interval: float = typer.Option(2.0, min=0.1, help="Seconds between refreshes (--watch)."),
) -> None:
    """List jobs and counts per status; failed jobs show their error."""
    from catalog.settings import DatabaseSettings
    from ingest.cursors import follow_lag
    from ingest.jobs import STATUSES, JobStore
    from ingest.jobsview import print_jobs, watch_jobs

    statuses = _split(status)
    unknown = sorted(set(statuses) - set(STATUSES))
    if unknown:
        raise _fail(f"unknown status {', '.join(unknown)}; choose from {', '.join(STATUSES)}")
    with _failing(), JobStore(DatabaseSettings().url, timeout=10) as store:
        if watch:
            watch_jobs(store, interval)
        if as_json:
            jobs = store.list_jobs(statuses=statuses, limit=limit)
            doc: dict[str, Any] = {
                "counts": store.counts().by_status,
                "jobs": [j.to_json() for j in jobs],
                "follow": follow_lag(store).to_json(),
            }
            typer.echo(json.dumps(doc, indent=2))
        else:
            print_jobs(store, statuses, limit)


def reconcile_command(
    min_age: float = typer.Option(
        10.0, help="Seconds a queued job's message must be old before it counts as vanished."
    ),
) -> None:
    """Queue again what crashed workers or a restarted broker lost."""
    from ingest.recovery import reconcile

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with _failing():
        pipeline = _pipeline()
        try:
            report = reconcile(pipeline, min_age_s=min_age)
        finally:
            pipeline.close()
    for line in report.lines():
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the ``kappacat`` command."""
    app.command("worker")(worker_command)
    app.command("ingest")(ingest_command)
    app.command("discover")(discover_command)
    app.command("jobs")(jobs_command)
    app.command("reconcile")(reconcile_command)

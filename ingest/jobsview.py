"""How ``kappacat jobs`` shows jobs: a table with counts, and a progress bar while watching."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.cursors import FollowerLag, FollowLag, follow_lag
from ingest.jobs import STATUSES, Counts, Job, JobStore


def counts_line(counts: Counts) -> str:
    """``12 jobs: 3 queued, 1 running, 7 succeeded, 1 failed, 0 skipped``."""
    parts = ", ".join(f"{counts.by_status.get(s, 0)} {s}" for s in STATUSES)
    return f"{counts.total} jobs: {parts}"


def _age(when: datetime | None) -> str:
    if when is None:
        return "-"
    seconds = (datetime.now(UTC) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def follower_line(lag: FollowerLag) -> str:
    """One follower or backfill: what it follows, how far behind it is, what it does."""
    what = f"{lag.stac_url} {','.join(lag.collections)}"
    newest = (
        f"newest product {lag.newest_product} sensed {lag.newest_datetime:%Y-%m-%dT%H:%M:%SZ}"
        f" ({_ago(lag.newest_age_s or 0)} ago)"
        if lag.newest_product and lag.newest_datetime
        else "no product seen yet"
    )
    done = f"{lag.submitted} submitted, {lag.seen} search results read"
    if lag.kind == "backfill":
        where = f"{lag.windows_done} of {lag.windows} windows done"
        if lag.position and lag.windows_done < lag.windows:
            where += f", at {lag.position:%Y-%m-%d}"
        line = f"backfill {what}: {where}; {newest}; {done}; {lag.state}"
    else:
        polled = f"searched {_age(lag.polled_at)}" if lag.polled_at else "not searched yet"
        line = f"following {what} on {lag.field}: {newest}; {done}; {polled}; {lag.state}"
    if lag.last_error and lag.state == "provider down":
        line += f" ({lag.last_error})"
    return line


def print_follow(lag: FollowLag) -> None:
    """The followers' lag, and how many products wait for a worker."""
    for follower in lag.followers:
        typer.echo(follower_line(follower))
    if lag.followers:
        typer.echo(f"{lag.waiting} product(s) waiting for a worker, {lag.running} running")


def job_line(job: Job) -> str:
    """One job as a table row."""
    return (
        f"{job.id:>6}  {job.status:<9}  {job.stage:<7}  {job.attempts:>3}  "
        f"{_age(job.updated_at):>9}  {job.product_id}"
    )


def print_jobs(store: JobStore, statuses: Sequence[str], limit: int) -> None:
    """The table of the latest jobs, their errors, and the counts."""
    jobs = store.list_jobs(statuses=statuses, limit=limit)
    typer.echo(f"{'ID':>6}  {'STATUS':<9}  {'STAGE':<7}  {'TRY':>3}  {'UPDATED':>9}  PRODUCT")
    for job in jobs:
        typer.echo(job_line(job))
        if job.status == "failed" and job.last_error:
            typer.secho(f"{'':>8}error: {job.last_error}", fg=typer.colors.RED)
    typer.echo(counts_line(store.counts()))
    print_follow(follow_lag(store))


def watch_jobs(store: JobStore, interval: float) -> Counts:
    """A progress bar of finished jobs until none is queued or running; returns the counts."""
    with Progress(
        TextColumn("jobs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    ) as progress:
        task = progress.add_task("", total=None)
        while True:
            counts = store.counts()
            detail = ", ".join(
                f"{counts.by_status.get(s, 0)} {s}" for s in STATUSES if counts.by_status.get(s)
            )
            progress.update(task, total=counts.total, completed=counts.done, description=detail)
            if counts.active == 0:
                return counts
            time.sleep(interval)

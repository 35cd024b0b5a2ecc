"""The worker group keeps its processes running: real processes, started, killed and stopped."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from catalog.settings import DatabaseSettings
from ingest.settings import BrokerSettings
from ingest.supervisor import EXIT_CONFIG, ProcessSpec, WorkerGroup
from tests.ingest.conftest import Workers
from tests.ingest.helpers import started_processes, wait_for


def _stop_group_after(seconds: float) -> Callable[[], int]:
    def run() -> int:
        time.sleep(seconds)
        os.kill(os.getppid(), signal.SIGTERM)
        time.sleep(60)  # until the group stops this process too
        return 0

    return run


def test_a_process_that_keeps_dying_young_is_restarted_after_growing_pauses(
    tmp_path: Path,
) -> None:
    starts = tmp_path / "starts"

    def crash() -> int:
        with starts.open("a") as f:
            f.write(f"{time.monotonic()}\n")
        return 1

    group = WorkerGroup(
        [ProcessSpec("crash", crash), ProcessSpec("stopper", _stop_group_after(4.5))],
        stop_timeout_s=5,
    )
    assert group.run() == 0
    times = [float(t) for t in starts.read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Started at once, then after 1 s, then after 2 s more (the next would be 4 s later).
    assert len(times) == 3, times
    assert 0.9 <= gaps[0] < 1.9 <= gaps[1] < 3.5, gaps


def test_a_configuration_error_stops_the_whole_group() -> None:
    started = time.monotonic()
    group = WorkerGroup(
        [ProcessSpec("misconfigured", lambda: EXIT_CONFIG), ProcessSpec("idle", _idle)],
        stop_timeout_s=10,
    )
    assert group.run() == EXIT_CONFIG
    assert time.monotonic() - started < 5  # the idle one was stopped, not waited out


def _idle() -> int:
    time.sleep(60)
    return 0


def test_worker_processes_stop_when_the_group_is_killed(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: Callable[..., dict[str, str]],
    workers: Callable[[dict[str, str]], Workers],
) -> None:
    """SIGKILL of the main process leaves no orphan worker holding jobs."""
    pool = workers(pipeline_env(redis_broker))
    group = pool.start("--processes", "2")
    members = wait_for(
        lambda: len(found := started_processes(pool.logs())) == 3 and found,
        "the group's processes",
        timeout=30,
    )
    assert set(pool.children(group)) == set(members.values())
    os.kill(group.pid, signal.SIGKILL)
    group.wait()

    def gone() -> bool:
        for pid in members.values():
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                continue
            if state != "Z":  # a zombie has exited; only its parent (now init) is missing
                return False
        return True

    wait_for(gone, "the orphaned processes to stop", timeout=20)

"""The worker group keeps its processes running: real processes, started, killed and stopped."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from catalog.settings import DatabaseSettings
from ingest.settings import BrokerSettings
from ingest.supervisor import EXIT_CONFIG, ProcessSpec, WorkerGroup
from tests.ingest.conftest import Workers
from tests.ingest.helpers import started_processes, wait_for


def _stop_group_once(path: Path, lines: int) -> Callable[[], int]:
    """A member that stops the group once ``path`` holds ``lines`` lines."""

    def run() -> int:
        while not path.exists() or len(path.read_text().split()) < lines:
            time.sleep(0.05)
        os.kill(os.getppid(), signal.SIGTERM)
        time.sleep(600)  # until the group stops this process too
        return 0

    return run


def test_a_process_that_keeps_dying_young_is_restarted_after_growing_pauses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    starts = tmp_path / "starts"

    def crash() -> int:
        with starts.open("a") as f:
            f.write(f"{time.monotonic()}\n")
        return 1

    group = WorkerGroup(
        [ProcessSpec("crash", crash), ProcessSpec("stopper", _stop_group_once(starts, 3))],
        stop_timeout_s=600,
    )
    with caplog.at_level(logging.INFO, logger="ingest.supervisor"):
        assert group.run() == 0
    # What the operator reads: each restart announced with a pause that doubles.
    restarts = [r.getMessage() for r in caplog.records if "starting a new one" in r.getMessage()]
    assert [m.rsplit(" in ", 1)[-1] for m in restarts[:2]] == ["1 s", "2 s"], restarts
    # ... and kept: a start never comes before its pause is over (however busy the machine).
    times = [float(t) for t in starts.read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 3, times
    assert gaps[0] >= 1.0 and gaps[1] >= 2.0, gaps


def test_a_configuration_error_stops_the_whole_group(caplog: pytest.LogCaptureFixture) -> None:
    group = WorkerGroup(
        [ProcessSpec("misconfigured", lambda: EXIT_CONFIG), ProcessSpec("idle", _idle)],
        stop_timeout_s=600,
    )
    with caplog.at_level(logging.INFO, logger="ingest.supervisor"):
        assert group.run() == EXIT_CONFIG
    messages = [r.getMessage() for r in caplog.records]
    # the idle one was told to stop and did (SIGTERM), not waited out and killed
    assert any(m.startswith("idle (pid") and m.endswith("exited with code 0") for m in messages)
    assert not any("did not stop in time" in m for m in messages), messages


def _idle() -> int:
    time.sleep(600)
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

"""The process group of ``kappacat worker``: worker processes and helpers, replaced when they die.

dramatiq's own command (``dramatiq.cli.main``) runs the same processes, but it takes a worker
process that exits as the end of the group: it stops the others and exits, leaving the restart
to systemd or the container runtime. With jobs that run for minutes that is the wrong trade:
one process killed for its memory would stop its siblings' work too. Here a process that dies
is logged and started again, and the job it was running is found again by the recovery sweep
through the job's lease. A process that keeps dying young (the broker is down, say) is started
again after a pause that doubles up to ``max_backoff_s``; one that exits with
:data:`EXIT_CONFIG` (its configuration is wrong) ends the group, since starting it again
cannot help.

SIGTERM, SIGINT and SIGHUP stop the group: every process is sent SIGTERM and left to finish
what it runs (a worker process waits for its running jobs); a later signal is sent on too,
which makes them exit at once. A process whose group has gone (the main process was killed)
stops by itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType

logger = logging.getLogger(__name__)

EXIT_CONFIG = 2
"""Exit code of a process whose configuration is wrong: the whole group stops with it."""
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


@dataclass(frozen=True)
class ProcessSpec:
    """One member of the group: its name in the logs and the function its process runs."""

    name: str
    target: Callable[[], int]


@dataclass
class _Member:
    spec: ProcessSpec
    process: BaseProcess | None = None
    started: float = 0.0
    quick_deaths: int = 0
    due: float = 0.0  # when to start it next (time.monotonic)


def _leave(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)  # orphaned: stop as if the group were stopped


def _child(spec: ProcessSpec, parent: int) -> None:
    """The new process: its own signal handling (signals are blocked until then), its member."""
    signal.signal(signal.SIGTERM, _leave)
    signal.signal(signal.SIGHUP, _leave)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process, which stops us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()
    sys.exit(spec.target())


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class WorkerGroup:
    """Keeps one process running per :class:`ProcessSpec` until it is told to stop."""

    def __init__(
        self,
        specs: list[ProcessSpec],
        *,
        stop_timeout_s: float,
        min_uptime_s: float = 10.0,
        max_backoff_s: float = 30.0,
        on_death: Callable[[int], None] | None = None,
    ) -> None:
        self.members = [_Member(spec) for spec in specs]
        self.stop_timeout_s = stop_timeout_s
        self.min_uptime_s = min_uptime_s
        self.max_backoff_s = max_backoff_s
        self.on_death = on_death
        self.exit_code = 0
        self._context = multiprocessing.get_context("fork")
        self._stopping = False

    def run(self) -> int:
        """Start every member, replace those that die, and stop them all on a signal."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            while not self._stopping:
                now = time.monotonic()
                for member in self.members:
                    if member.process is None and now >= member.due:
                        self._start(member)
                due = [m.due - now for m in self.members if m.process is None]
                self._wait(min([1.0, *due]))
                self._reap()
            self._wait_for_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def stop(self) -> None:
        """Ask every process to finish what it runs and exit (the first call only)."""
        if not self._stopping:
            self._stopping = True
            self._send(signal.SIGTERM)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            name = signal.Signals(signum).name
            logger.warning("%s again: telling the processes to exit now", name)
            self._send(signal.SIGTERM)
            return
        logger.info("%s: stopping the worker group", signal.Signals(signum).name)
        self.stop()

    def _send(self, signum: int) -> None:
        for member in self.members:
            process = member.process
            if process is not None and process.pid is not None and process.exitcode is None:
                try:
                    os.kill(process.pid, signum)
                except ProcessLookupError:
                    continue

    def _start(self, member: _Member) -> None:
        # Signals stay blocked across the fork: the child has the parent's handlers until it
        # installs its own, and a stop signal must not reach it in between.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process = self._context.Process(
                target=_child, args=(member.spec, os.getpid()), name=member.spec.name
            )
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        member.process, member.started = process, time.monotonic()
        logger.info("%s started (pid %s)", member.spec.name, process.pid)

    def _wait(self, timeout: float) -> None:
        sentinels = [m.process.sentinel for m in self.members if m.process is not None]
        if sentinels:
            multiprocessing.connection.wait(sentinels, max(timeout, 0.0))
        else:
            time.sleep(max(timeout, 0.0))

    def _reap(self) -> None:
        for member in self.members:
            process = member.process
            if process is None or process.exitcode is None:
                continue
            code, pid = process.exitcode, process.pid or 0
            process.join()
            process.close()
            member.process = None
            if self.on_death is not None:
                self.on_death(pid)
            if self._stopping:
                logger.info("%s (pid %d) %s", member.spec.name, pid, _how(code))
                continue
            if code == EXIT_CONFIG:
                logger.critical(
                    "%s (pid %d) cannot run with this configuration; stopping the group",
                    member.spec.name,
                    pid,
                )
                self.exit_code = EXIT_CONFIG
                self.stop()
                continue
            now = time.monotonic()
            lived = now - member.started
            member.quick_deaths = member.quick_deaths + 1 if lived < self.min_uptime_s else 0
            delay = min(2.0 ** (member.quick_deaths - 1), self.max_backoff_s)
            delay = delay if member.quick_deaths else 0.0
            member.due = now + delay
            logger.error(
                "%s (pid %d) %s after %.0f s; starting a new one%s",
                member.spec.name,
                pid,
                _how(code),
                lived,
                f" in {delay:.0f} s" if delay else "",
            )

    def _wait_for_all(self) -> None:
        deadline = time.monotonic() + self.stop_timeout_s
        while any(m.process is not None for m in self.members):
            if time.monotonic() >= deadline:
                for member in self.members:
                    if member.process is not None and member.process.exitcode is None:
                        logger.warning("%s did not stop in time; killing it", member.spec.name)
                        member.process.kill()
                deadline = float("inf")
            self._wait(1.0)
            self._reap()

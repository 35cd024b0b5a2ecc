"""Child processes that die with their parent and leave pid files behind them.

The demo starts PostgreSQL, Redis, workers, the API and the tiler. Killed however it is
killed (Ctrl-C, SIGTERM, a closed terminal, SIGKILL), none of them may outlive it: each child
asks the kernel for a signal when its parent dies (``PR_SET_PDEATHSIG``), and each writes a pid
file so that a later run finds and stops whatever survived anyway (a child that was starting
up at that moment, a parent that died between fork and exec).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


class ChildError(RuntimeError):
    """A child process could not be started or stopped."""


def _start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and brackets: split after its closing ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _die_with_parent(death_signal: int, parent: int) -> None:
    """In the child, between fork and exec: get ``death_signal`` when the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl: nobody would send the signal
        os.kill(os.getpid(), death_signal)


@dataclass(frozen=True)
class PidFile:
    """A pid file naming one process by pid and start time (pids are reused; start times not)."""

    path: Path

    def write(self, pid: int, what: str, group: bool = False) -> None:
        """Record the process (``group``: it leads a process group, stop the whole group)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"pid": pid, "start": _start_time(pid), "what": what, "group": group}
        self.path.write_text(json.dumps(record))

    def running(self) -> int | None:
        """The recorded process's pid if it is still that process and alive, else None."""
        try:
            record = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        pid = int(record.get("pid", 0))
        if pid <= 0 or not alive(pid) or _start_time(pid) != record.get("start"):
            return None
        return pid

    def _field(self, name: str, default: object) -> object:
        try:
            return json.loads(self.path.read_text()).get(name, default)
        except (OSError, ValueError):
            return default

    def what(self) -> str:
        """What the recorded process was."""
        return str(self._field("what", self.path.stem))

    def is_group(self) -> bool:
        """Whether the recorded process leads a process group of its own."""
        return bool(self._field("group", False))

    def remove(self) -> None:
        """Forget the process."""
        self.path.unlink(missing_ok=True)


def stop(
    pid: int, first_signal: int = signal.SIGTERM, timeout: float = 30.0, group: bool = False
) -> None:
    """Ask a process to stop, then kill it if it is still there after ``timeout`` seconds.

    ``group``: the process leads a process group; the group is killed with it.
    """
    send = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError, PermissionError):
        send(pid, first_signal)
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                send(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
        time.sleep(0.1)
    if group:  # what the leader left behind in its group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def stop_stale(run_dir: Path) -> list[str]:
    """Stop every process a previous run recorded in ``run_dir`` and that is still running.

    Returns what was stopped ("postgres (pid 1234)"), for the caller to report.
    """
    stopped = []
    for path in sorted(run_dir.glob("*.pid")):
        pidfile = PidFile(path)
        pid = pidfile.running()
        if pid is not None:
            stop(pid, group=pidfile.is_group())
            stopped.append(f"{pidfile.what()} (pid {pid})")
        pidfile.remove()
    return stopped


@contextlib.contextmanager
def child(
    args: Sequence[str],
    *,
    pidfile: PidFile,
    what: str,
    env: dict[str, str] | None = None,
    output: IO[bytes] | int | None = None,
    user: str | None = None,
    new_session: bool = False,
    death_signal: int = signal.SIGTERM,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` as a child that gets ``death_signal`` if this process dies; stop it on exit.

    ``user`` runs it as another user (PostgreSQL refuses to run as root); the death signal is
    set after the switch, which would otherwise clear it. ``new_session`` keeps the terminal's
    Ctrl-C away from it (the parent stops its children in order) and stops its whole process
    group, the processes it started included.
    """
    parent = os.getpid()
    try:
        proc = subprocess.Popen(
            list(args),
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            user=user,
            group=user,
            extra_groups=[] if user else None,
            start_new_session=new_session,
            preexec_fn=lambda: _die_with_parent(death_signal, parent),
        )
    except OSError as exc:
        raise ChildError(f"cannot start {what} ({args[0]}): {exc}") from exc
    pidfile.write(proc.pid, what, group=new_session)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            stop(proc.pid, stop_signal, stop_timeout, group=new_session)
        proc.wait()
        pidfile.remove()

"""The README's first Quickstart command, as a newcomer runs it: a fresh clone, a bare install.

A fresh clone of the commit under test (``HEAD``: commit what you want tested) runs
``./scripts/demo.sh``, which makes its own ``.venv`` with the project's runtime dependencies
only (no extras), as a user's machine would. Everything here then runs in that environment:
every module imports, every command's ``--help`` works, the demo reaches a catalogue with
masks, the README's notebook snippet finds them, and a demo killed with SIGKILL leaves no
process behind and starts again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kappacat.children import PidFile, alive

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("catalog", "kappacat", "catalog_api", "ingest", "inference", "tiler", "migrations")
DEMO_ARGS = ["--products", "2", "--size", "366", "--workers", "1"]
CHECKED = "checked: 2 masks searchable, mask COG readable, a tile drawn, web map served"
METRICS_CHECKED = "checked: metrics of api, tiler, worker scraped"


@dataclass(frozen=True)
class BareClone:
    """A fresh clone whose ``.venv`` the demo made, and the demo's data folder."""

    root: Path
    data: Path
    first_output: str

    @property
    def python(self) -> str:
        return str(self.root / ".venv" / "bin" / "python")

    def run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A command in the clone, in the bare environment."""
        return subprocess.run(
            args, cwd=self.root, env=user_env(), capture_output=True, text=True, timeout=timeout
        )


def user_env() -> dict[str, str]:
    """The environment of a user's shell: no KappaCat settings, no test virtualenv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAPPACAT_")}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


@pytest.fixture(scope="module")
def bare_clone() -> Iterator[BareClone]:
    """A fresh clone of HEAD, after ``./scripts/demo.sh --check`` (install and a first run)."""
    # Under /tmp: as root, the private PostgreSQL runs as postgres and must reach the folder.
    base = Path(tempfile.mkdtemp(prefix="kappacat-bare-"))
    base.chmod(0o755)
    root, data = base / "kappacat", base / "demo"
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(root)], check=True, timeout=120)
        first = subprocess.run(
            ["./scripts/demo.sh", "--check", "--data-dir", str(data), *DEMO_ARGS],
            cwd=root,
            env=user_env(),
            capture_output=True,
            text=True,
            timeout=1500,
        )
        out = first.stdout + first.stderr
        assert first.returncode == 0, out[-6000:]
        yield BareClone(root, data, out)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_first_command_installs_and_reaches_a_catalogue_with_masks(
    bare_clone: BareClone,
) -> None:
    out = bare_clone.first_output
    assert "installing KappaCat and its Python packages into .venv" in out
    assert CHECKED in out
    assert "/viewer" in out and "Client.open(" in out
    # Each component's metrics, on loopback, printed and answering.
    assert re.search(r"worker\s+http://127\.0\.0\.1:\d+/metrics", out), out[-3000:]
    assert METRICS_CHECKED in out
    # Installed without extras: what only the tests need is not there.
    missing = bare_clone.run([bare_clone.python, "-c", "import pytest"])
    assert missing.returncode != 0 and "No module named 'pytest'" in missing.stderr


def test_every_module_imports_in_the_bare_install(bare_clone: BareClone) -> None:
    code = f"""
import importlib, json, pkgutil
failed, count = {{}}, 0
for name in {PACKAGES!r}:
    package = importlib.import_module(name)
    for info in pkgutil.walk_packages(package.__path__, prefix=name + "."):
        if info.name.endswith(".__main__"):  # runs the command
            continue
        count += 1
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failed[info.name] = repr(exc)
print(json.dumps({{"count": count, "failed": failed}}))
"""
    done = bare_clone.run([bare_clone.python, "-c", code])
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["failed"] == {}
    assert report["count"] >= 80


def test_every_command_answers_help_in_the_bare_install(bare_clone: BareClone) -> None:
    code = """
import json, typer.main
from kappacat.cli import app
def walk(command, path):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, [*path, name])
print(json.dumps(list(walk(typer.main.get_command(app), []))))
"""
    listed = bare_clone.run([bare_clone.python, "-c", code])
    assert listed.returncode == 0, listed.stderr[-3000:]
    commands = json.loads(listed.stdout)
    assert ["demo"] in commands and ["serve", "tiler"] in commands and len(commands) >= 15
    kappacat = str(bare_clone.root / ".venv" / "bin" / "kappacat")
    for path in commands:
        shown = bare_clone.run([kappacat, *path, "--help"])
        assert shown.returncode == 0, (path, shown.stderr[-2000:])
        assert "Usage:" in shown.stdout, path


def readme_snippet() -> str:
    """The Python code block of the README's "Search from a notebook" section."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Search from a notebook", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README has no notebook snippet"
    return match.group(1)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def wait_for_line(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """The process's output up to the line containing ``marker``."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not printed within {timeout} s:\n" + "".join(seen)[-4000:])


def test_killed_demo_leaves_nothing_behind_and_runs_again(bare_clone: BareClone) -> None:
    demo = subprocess.Popen(
        ["./scripts/demo.sh", "--data-dir", str(bare_clone.data), *DEMO_ARGS],
        cwd=bare_clone.root,
        env=user_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = wait_for_line(demo, "Press Ctrl-C to stop everything", 300)
        # A second run installs nothing and generates nothing again.
        assert "installing" not in out and "generating sample product" not in out, out
        api = re.search(r"STAC API\s+(http://127\.0\.0\.1:\d+)/", out)
        assert api, out

        # The README's notebook snippet, pasted after the demo, finds the demo's masks.
        snippet = readme_snippet().replace("http://127.0.0.1:8081", api.group(1))
        found = bare_clone.run([bare_clone.python, "-c", snippet])
        assert found.returncode == 0, found.stderr[-3000:]
        lines = [ln for ln in found.stdout.splitlines() if ln.strip()]
        assert lines and all("/assets/" in ln for ln in lines), found.stdout

        started = descendants(demo.pid)
        assert len(started) >= 5  # PostgreSQL and its helpers, Redis, API, worker, tiler
        demo.send_signal(signal.SIGKILL)
        demo.wait(timeout=10)
        deadline = time.monotonic() + 60
        while (left := {p for p in started if alive(p)}) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert left == set(), f"processes of the killed demo still running: {sorted(left)}"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()

    # Something that survived anyway (here: a stand-in recorded as the tiler) is found from
    # its pid file and stopped by the next run, which then works.
    survivor = subprocess.Popen(["sleep", "600"])
    try:
        PidFile(bare_clone.data / "run" / "tiler.pid").write(survivor.pid, "kappacat serve tiler")
        again = subprocess.run(
            ["./scripts/demo.sh", "--check", "--data-dir", str(bare_clone.data), *DEMO_ARGS],
            cwd=bare_clone.root,
            env=user_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        out = again.stdout + again.stderr
        assert again.returncode == 0, out[-4000:]
        stopped = (
            f"stopped what an earlier run left behind: kappacat serve tiler (pid {survivor.pid})"
        )
        assert stopped in out, out[-4000:]
        assert survivor.wait(timeout=10) == -signal.SIGTERM
        assert CHECKED in out
    finally:
        if survivor.poll() is None:
            survivor.kill()
            survivor.wait()


def test_the_demo_prints_the_readme_notebook_snippet() -> None:
    """What the demo prints and what the README shows are one snippet, which the test above
    runs against the demo's data."""
    from kappacat.demo_checks import notebook_snippet

    assert readme_snippet() == notebook_snippet("http://127.0.0.1:8081")

"""The first Quickstart command's main job, end to end, in its --check mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_demo_reaches_a_searchable_catalogue_and_a_web_map() -> None:
    # Its own folder under /tmp: as root, the private PostgreSQL runs as postgres and must
    # reach it. Private servers on free ports: the machine's own services are not touched.
    data = Path(tempfile.mkdtemp(prefix="kappacat-demo-"))
    data.chmod(0o755)
    try:
        args = [sys.executable, "-m", "kappacat", "demo", "--check", "--data-dir", str(data),
                "--products", "2", "--size", "366", "--workers", "1"]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAPPACAT_")}
        first = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
        out = first.stdout + first.stderr
        assert first.returncode == 0, out[-4000:]
        assert "checked: 2 masks searchable, mask COG readable, a tile drawn, web map served" in out
        assert "/viewer" in out and "Client.open(" in out
        # Again: the data is reused, nothing is generated twice.
        again = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
        out = again.stdout + again.stderr
        assert again.returncode == 0, out[-4000:]
        assert "generating sample product" not in out
        assert "checked: 2 masks searchable" in out
    finally:
        shutil.rmtree(data, ignore_errors=True)

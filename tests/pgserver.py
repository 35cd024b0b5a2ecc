"""A PostgreSQL server for the tests: the one on 127.0.0.1:5432 when it answers, else a private one.

The private server is started from the installed PostgreSQL binaries (initdb into a temporary
directory, a free port) so the test command also works on a machine without a running server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kappacat.localdb import answers, postgres_server

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def admin_url() -> Iterator[str]:
    """The admin URL of a server the tests may create databases on."""
    url = os.environ.get("KAPPACAT_TEST_ADMIN_URL", DEFAULT_ADMIN_URL)
    if answers(url):
        yield url
        return
    tmp = Path(tempfile.mkdtemp(prefix="kappacat-pg-"))
    tmp.chmod(0o755)  # as root the server runs as postgres, which must reach it
    try:
        with postgres_server(tmp) as private:
            yield private
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

"""KappaCat's database schema: the pinned pgstac version and our own numbered SQL files.

Only data lives here: the runner is :mod:`kappacat.migrate`.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

PGSTAC_VERSION = "0.10.0"
"""The pgstac schema version this release runs on (installed through pypgstac)."""


def sql_files() -> list[tuple[int, str, Traversable]]:
    """KappaCat's own migrations as (number, name, file), in order."""
    found = []
    for entry in files(__name__).joinpath("sql").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append((int(number), rest.removesuffix(".sql"), entry))
    return sorted(found, key=lambda f: f[0])

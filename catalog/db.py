"""Short-lived pypgstac database handles that leave no connection behind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pypgstac.db import PgstacDB


@contextlib.contextmanager
def pgstac_db(dsn: str) -> Iterator[PgstacDB]:
    """A :class:`PgstacDB` whose connection and pool are closed on exit."""
    db = PgstacDB(dsn=dsn)
    try:
        yield db
    finally:
        db.disconnect()
        db.close()

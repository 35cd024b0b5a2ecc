"""The follower cursors (``kappacat.follow_cursors``): reading and moving them, and the lag
they tell.

One row per (provider search, window): a follower's window is open at both ends, a backfill
has one row per date window. :func:`follow_lag` is what ``kappacat jobs`` shows and what a
metrics probe reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from ingest.jobs import JobStore

Window = tuple[datetime | None, datetime | None]
"""A cursor's window of sensing times: a backfill's, or open at both ends for a follower."""


@dataclass
class Cursor:
    """One row of ``kappacat.follow_cursors``."""

    id: int
    search_key: str
    window_start: datetime | None
    window_end: datetime | None
    kind: str
    stac_url: str
    search: dict[str, Any]
    field: str
    position: datetime | None
    done: bool
    newest_product: str | None
    newest_datetime: datetime | None
    seen: int
    submitted: int
    state: str
    last_error: str | None
    polled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CursorStore:
    """Reads and moves cursors (through the job store's connection pool)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def open(
        self,
        key: str,
        kind: str,
        search: dict[str, Any],
        cursor_field: str,
        window: Window = (None, None),
    ) -> Cursor:
        """The cursor of (search, window), made at no position if it is new."""
        with (
            self.store.pool.connection() as conn,
            conn.cursor(row_factory=class_row(Cursor)) as cur,
        ):
            cur.execute(
                "INSERT INTO kappacat.follow_cursors"
                " (search_key, window_start, window_end, kind, stac_url, search, field)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (key, *window, kind, search["stac_url"], Jsonb(search), cursor_field),
            )
            cur.execute(
                "SELECT * FROM kappacat.follow_cursors WHERE search_key = %s"
                " AND window_start IS NOT DISTINCT FROM %s AND window_end IS NOT DISTINCT FROM %s",
                (key, *window),
            )
            row = cur.fetchone()
        if row is None:
            raise psycopg.errors.SerializationFailure(f"cursor {key} vanished")
        return row

    def advance(self, cursor: Cursor, walked: Walk) -> None:
        """Move the cursor past what ``walked`` submitted (never backwards); count it."""
        with self.store.pool.connection() as conn:
            conn.execute(
                "UPDATE kappacat.follow_cursors SET"
                " position = GREATEST(position, %(position)s),"
                " newest_product = CASE WHEN newest_datetime IS NULL"
                "   OR %(newest)s > newest_datetime THEN %(product)s ELSE newest_product END,"
                " newest_datetime = GREATEST(newest_datetime, %(newest)s),"
                " seen = seen + %(seen)s, submitted = submitted + %(submitted)s,"
                " updated_at = now() WHERE id = %(id)s",
                {
                    "position": walked.position,
                    "newest": walked.newest_datetime,
                    "product": walked.newest_product,
                    "seen": walked.seen,
                    "submitted": walked.submitted,
                    "id": cursor.id,
                },
            )
        if walked.position is not None:
            cursor.position = max(filter(None, (cursor.position, walked.position)))

    def mark(
        self,
        cursor: Cursor,
        state: str,
        *,
        error: str | None = None,
        polled: bool = False,
        done: bool = False,
    ) -> None:
        """Record what the follower is doing (shown by ``kappacat jobs``)."""
        with self.store.pool.connection() as conn:
            conn.execute(
                "UPDATE kappacat.follow_cursors SET state = %s, last_error = %s,"
                " polled_at = CASE WHEN %s THEN now() ELSE polled_at END,"
                " done = done OR %s, updated_at = now() WHERE id = %s",
                (state, error, polled, done, cursor.id),
            )
        cursor.state = state
        cursor.done = cursor.done or done

    def all(self) -> list[Cursor]:
        """Every cursor, by search and window."""
        with (
            self.store.pool.connection() as conn,
            conn.cursor(row_factory=class_row(Cursor)) as cur,
        ):
            cur.execute(
                "SELECT * FROM kappacat.follow_cursors"
                " ORDER BY search_key, window_start NULLS FIRST"
            )
            return cur.fetchall()


@dataclass
class Walk:
    """What one walk over a search's results found and did."""

    seen: int = 0
    submitted: int = 0
    position: datetime | None = None
    newest_product: str | None = None
    newest_datetime: datetime | None = None

    def add(self, other: Walk) -> None:
        """Count ``other`` into this one."""
        self.seen += other.seen
        self.submitted += other.submitted
        self.position = max(filter(None, (self.position, other.position)), default=None)
        if other.newest_datetime and (
            self.newest_datetime is None or other.newest_datetime > self.newest_datetime
        ):
            self.newest_datetime, self.newest_product = other.newest_datetime, other.newest_product


@dataclass
class FollowerLag:
    """How far behind one follower (or one backfill) is."""

    kind: str
    stac_url: str
    collections: list[str]
    field: str
    state: str
    position: datetime | None
    newest_product: str | None
    newest_datetime: datetime | None
    newest_age_s: float | None
    seen: int
    submitted: int
    polled_at: datetime | None
    last_error: str | None
    windows: int = 1
    windows_done: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


@dataclass
class FollowLag:
    """Every follower and backfill, and the products waiting for a worker."""

    followers: list[FollowerLag] = field(default_factory=list)
    waiting: int = 0
    running: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values (what ``kappacat jobs --json`` prints under ``follow``)."""
        return {
            "followers": [f.to_json() for f in self.followers],
            "waiting": self.waiting,
            "running": self.running,
        }


def _utc(when: datetime | None) -> datetime | None:
    """A time from the database (in the session's time zone) in UTC."""
    return when.astimezone(UTC) if when else None


def follow_lag(store: JobStore, now: datetime | None = None) -> FollowLag:
    """The lag of every follower and backfill (for ``kappacat jobs`` and metrics): per search,
    the newest product seen and its age, the cursor, and the jobs still waiting."""
    now = now or datetime.now(UTC)
    groups: dict[str, list[Cursor]] = {}
    for cursor in CursorStore(store).all():
        groups.setdefault(cursor.search_key, []).append(cursor)
    lag = FollowLag()
    for rows in groups.values():
        latest = max(rows, key=lambda c: c.updated_at)
        current = next((c for c in rows if not c.done), rows[-1])
        newest = max(
            (c for c in rows if c.newest_datetime),
            key=lambda c: c.newest_datetime or now,
            default=None,
        )
        newest_at = _utc(newest.newest_datetime if newest else None)
        lag.followers.append(
            FollowerLag(
                kind=rows[0].kind,
                stac_url=rows[0].stac_url,
                collections=list(rows[0].search.get("collections") or []),
                field=rows[0].field,
                state=latest.state,
                position=_utc(current.position),
                newest_product=newest.newest_product if newest else None,
                newest_datetime=newest_at,
                newest_age_s=(now - newest_at).total_seconds() if newest_at else None,
                seen=sum(c.seen for c in rows),
                submitted=sum(c.submitted for c in rows),
                polled_at=_utc(max((c.polled_at for c in rows if c.polled_at), default=None)),
                last_error=latest.last_error,
                windows=len(rows),
                windows_done=sum(c.done for c in rows),
            )
        )
    counts = store.counts().by_status
    lag.waiting, lag.running = counts.get("queued", 0), counts.get("running", 0)
    return lag

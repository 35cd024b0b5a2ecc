"""Keep the catalogue current: follow a provider's STAC API, and backfill years, resumably.

A follower searches again and again for what is new since its cursor, a row of
``kappacat.follow_cursors`` per (provider, search): on the provider's ``updated`` (or
``created``) time where the provider can filter on it, else on the sensing ``datetime``. Each
search reaches back an overlap behind the cursor for items a provider commits late; what it
sees twice is not submitted twice, since a job is unique per product and model. The cursor
moves only after the products it passes were submitted, so a follower killed at any moment
and started again misses nothing and repeats nothing.

A backfill walks date windows in order with the same cursors (one row per window, marked done
once walked), so a crash resumes at the window, and within it at the page, it stopped in.

While the queue is full, or the provider does not answer, both wait with jittered exponential
backoff and say so in their log. :func:`ingest.cursors.follow_lag` tells how far behind they
are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pystac.utils import str_to_datetime
from pystac_client import Client, ConformanceClasses
from pystac_client.exceptions import APIError

from inference.errors import RETRYABLE_HTTP
from ingest.cursors import Cursor, CursorStore, Walk
from ingest.discover import Search, item_ref, search_kwargs
from ingest.errors import ProviderUnavailableError, SourceError
from ingest.pipeline import ModelFor, Pipeline, SourceRef
from ingest.settings import FollowSettings

logger = logging.getLogger(__name__)

FIELDS = ("updated", "created", "datetime")
"""Item properties a cursor can be on, in the order ``auto`` prefers them."""


def _when(value: Any) -> datetime | None:
    """An item's timestamp property as an aware datetime (None if missing or unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = str_to_datetime(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_interval(text: str | None) -> tuple[datetime | None, datetime | None]:
    """A STAC ``datetime`` (an instant or ``start/end``, ``..`` or nothing for open) as bounds."""
    if not text:
        return None, None
    parts = text.split("/")
    if len(parts) > 2:
        raise SourceError(f"--datetime {text!r}: give an instant or start/end")
    bounds: list[datetime | None] = []
    for part in parts:
        if part in ("", ".."):
            bounds.append(None)
            continue
        when = _when(part)
        if when is None:
            raise SourceError(f"--datetime {text!r}: {part!r} is not an RFC 3339 time")
        bounds.append(when)
    return (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])


def _interval_text(start: datetime | None, end: datetime | None) -> str | None:
    if start is None and end is None:
        return None
    return f"{_iso(start) if start else '..'}/{_iso(end) if end else '..'}"


def windows(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """``[start, end]`` cut into windows of ``days`` days, in order."""
    found = []
    step = timedelta(days=days)
    lo = start
    while lo < end:
        hi = min(lo + step, end)
        found.append((lo, hi))
        lo = hi
    return found


def search_key(search: Search, kind: str) -> str:
    """What names one follower's (or one backfill's) cursors: the provider and the search."""
    return hashlib.sha256(
        json.dumps(search_doc(search, kind), sort_keys=True).encode()
    ).hexdigest()[:24]


def search_doc(search: Search, kind: str) -> dict[str, Any]:
    """The search as stored beside its cursors (a backfill's dates are its windows)."""
    return {
        "kind": kind,
        "stac_url": search.stac_url.rstrip("/"),
        "collections": sorted(search.collections),
        "bbox": search.bbox,
        "intersects": search.intersects,
        "datetime": search.datetime if kind == "follow" else None,
        "max_cloud": search.max_cloud,
    }


class Backoff:
    """Jittered exponential pauses: about ``first``, then twice as long, up to ``most``."""

    def __init__(self, first: float, most: float, rng: random.Random | None = None) -> None:
        self.first, self.most = first, max(most, first)
        self.tries = 0
        self.rng = rng or random.Random()

    def next(self) -> float:
        """The next pause (between half and all of the current step)."""
        step = min(self.most, self.first * 2**self.tries)
        self.tries += 1
        return self.rng.uniform(step / 2, step)

    def reset(self) -> None:
        """Start again from the first pause."""
        self.tries = 0


class Follower:
    """Follow one search of one provider, or backfill it, submitting into ``pipeline``."""

    def __init__(
        self,
        pipeline: Pipeline,
        search: Search,
        *,
        model: str | ModelFor,
        settings: FollowSettings | None = None,
        max_queued: int = 500,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pipeline = pipeline
        self.search = search
        self.model = model
        self.settings = settings or FollowSettings()
        self.max_queued = max_queued
        self.sleep = sleep
        self.cursors = CursorStore(pipeline.store)
        self._client: Client | None = None
        self._sort: bool | None = None

    # --- the provider ---------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> SourceError:
        url = self.search.stac_url
        status = getattr(exc, "status_code", None)
        if isinstance(exc, APIError) and status is not None:
            if status < 500 and status not in RETRYABLE_HTTP:
                return SourceError(f"{url}: the STAC API refused the search (HTTP {status}): {exc}")
            return ProviderUnavailableError(f"{url}: the STAC API answered HTTP {status}: {exc}")
        return ProviderUnavailableError(f"{url}: the STAC API did not answer: {exc}")

    def client(self) -> Client:
        """The provider's API (opened once it answers)."""
        if self._client is None:
            try:
                self._client = Client.open(self.search.stac_url, timeout=self.search.timeout_s)
            except (APIError, OSError) as exc:
                raise self._unavailable(exc) from exc
        return self._client

    def choose_field(self) -> str:
        """The property to follow: the setting, or ``updated``/``created`` where the provider
        can filter on them, else ``datetime``."""
        wanted = self.settings.cursor_field
        client = self.client()
        can_filter = client.conforms_to(ConformanceClasses.FILTER)
        if wanted != "auto":
            if wanted != "datetime" and not can_filter:
                raise SourceError(
                    f"{self.search.stac_url}: cannot follow {wanted}: the API has no filter "
                    "extension (set KAPPACAT_FOLLOW_CURSOR_FIELD=datetime)"
                )
            return wanted
        if not can_filter:
            return "datetime"
        try:
            queryables = client.get_merged_queryables(self.search.collections)
        except (APIError, OSError, KeyError, TypeError) as exc:
            logger.warning("%s: no queryables (%s); following datetime", self.search.stac_url, exc)
            return "datetime"
        names = set((queryables or {}).get("properties", {}))
        return next((f for f in FIELDS if f in names), "datetime")

    def _with_provider(self, what: str, cursor: Cursor | None, fn: Callable[[], Any]) -> Any:
        """Run ``fn``; while the provider does not answer, wait with backoff and run it again."""
        backoff = Backoff(self.settings.min_backoff_s, self.settings.max_backoff_s)
        while True:
            try:
                result = fn()
            except ProviderUnavailableError as exc:
                pause = backoff.next()
                logger.warning(
                    "provider down while %s: %s; trying again in %.1f s", what, exc, pause
                )
                if cursor is not None:
                    self.cursors.mark(cursor, "provider down", error=str(exc))
                self._client = None
                self.sleep(pause)
                continue
            if backoff.tries and cursor is not None:
                logger.info("provider %s answers again", self.search.stac_url)
            return result

    # --- walking results ------------------------------------------------------------------

    def _pages(
        self, cursor: Cursor, since: datetime | None, until: datetime | None
    ) -> Iterator[list[dict[str, Any]]]:
        client = self.client()
        kwargs = search_kwargs(client, self.search)
        kwargs["max_items"] = None
        kwargs["limit"] = self.settings.page_size
        name = cursor.field
        if name == "datetime":
            lo, hi = (
                parse_interval(self.search.datetime) if cursor.kind == "follow" else (None, None)
            )
            lo = max(filter(None, (lo, since)), default=None)
            hi = min(filter(None, (hi, until)), default=None)
            kwargs["datetime"] = _interval_text(lo, hi)
        elif since is not None:
            bound = {"op": ">=", "args": [{"property": name}, {"timestamp": _iso(since)}]}
            if "query" in kwargs:  # an API without filter cannot follow updated (choose_field)
                raise SourceError(f"{self.search.stac_url}: cannot filter on {name}")
            if "filter" in kwargs:
                bound = {"op": "and", "args": [kwargs["filter"], bound]}
            kwargs["filter"], kwargs["filter_lang"] = bound, "cql2-json"
        if self._sort is None:
            self._sort = client.conforms_to(ConformanceClasses.SORT)
        if self._sort:
            kwargs["sortby"] = [{"field": f"properties.{name}", "direction": "asc"}]
        try:
            for page in client.search(**kwargs).pages_as_dicts():
                yield list(page.get("features") or [])
        except APIError as exc:
            status = getattr(exc, "status_code", None)
            if self._sort and status == 400 and "sort" in str(exc).lower():
                logger.warning(
                    "%s cannot sort by %s (%s); the cursor moves at the end of each search",
                    self.search.stac_url,
                    name,
                    exc,
                )
                self._sort = False
                yield from self._pages(cursor, since, until)
                return
            raise self._unavailable(exc) from exc
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def _wait_for_room(self, cursor: Cursor) -> None:
        backoff = Backoff(self.settings.min_backoff_s, self.settings.max_backoff_s)
        while (active := self.pipeline.store.counts().active) >= self.max_queued:
            pause = backoff.next()
            if backoff.tries == 1:
                self.cursors.mark(cursor, "queue full")
            logger.info(
                "queue full: %d jobs queued or running (at most %d); looking again in %.1f s",
                active,
                self.max_queued,
                pause,
            )
            self.sleep(pause)
        if backoff.tries:
            self.cursors.mark(cursor, "following" if cursor.kind == "follow" else "backfilling")

    def _submit_new(self, ref: SourceRef) -> bool:
        """Submit a product unless it has a job already; True if it was new.

        A known product is left as it is, even one whose job failed: what a follower sees
        again (the overlap, a restart) must not start work again; ``kappacat ingest`` resumes.
        """
        model_id = self.model(ref)[0] if callable(self.model) else self.model
        if self.pipeline.store.find(ref.product_id, model_id) is not None:
            return False
        (outcome,) = self.pipeline.submit([ref], self.model)
        return outcome.created

    def walk(self, cursor: Cursor, since: datetime | None, until: datetime | None = None) -> Walk:
        """Submit every product the search finds from ``since``; the cursor follows page by
        page when the results are sorted, else once the walk is over."""
        total = Walk()
        pending = Walk()
        for page in self._pages(cursor, since, until):
            for item in page:
                self._wait_for_room(cursor)
                pending.seen += 1
                pending.submitted += int(self._submit_new(item_ref(item, self.search)))
                props = item.get("properties") or {}
                when = _when(props.get(cursor.field))
                if when is not None and (pending.position is None or when > pending.position):
                    pending.position = when
                sensed = _when(props.get("datetime") or props.get("start_datetime"))
                if sensed and (pending.newest_datetime is None or sensed > pending.newest_datetime):
                    pending.newest_datetime, pending.newest_product = sensed, str(item["id"])
            if self._sort:
                self.cursors.advance(cursor, pending)
                total.add(pending)
                pending = Walk()
        if pending.seen or pending.position:
            self.cursors.advance(cursor, pending)
            total.add(pending)
        return total

    # --- following and backfilling --------------------------------------------------------

    def open_follow(self) -> Cursor:
        """This search's follow cursor (its property chosen once, when it is made)."""
        key = search_key(self.search, "follow")
        doc = search_doc(self.search, "follow")
        field_name = self._with_provider("choosing what to follow", None, self.choose_field)
        cursor = self.cursors.open(key, "follow", doc, field_name)
        if cursor.field != field_name:
            logger.warning(
                "the cursor of this search is on %s (not %s): keeping it",
                cursor.field,
                field_name,
            )
        return cursor

    def follow(self, passes: int | None = None) -> Walk:
        """Search for what is new again and again (``passes`` times, or until stopped)."""
        cursor = self.open_follow()
        overlap = timedelta(
            seconds=self.settings.datetime_overlap_s
            if cursor.field == "datetime"
            else self.settings.overlap_s
        )
        logger.info(
            "following %s %s on %s from %s",
            self.search.stac_url,
            ",".join(self.search.collections),
            cursor.field,
            _iso(cursor.position) if cursor.position else "the start",
        )
        total = Walk()
        done = 0
        while passes is None or done < passes:
            since = cursor.position - overlap if cursor.position else None

            def one_pass(since: datetime | None = since) -> Walk:
                self.cursors.mark(cursor, "following")
                return self.walk(cursor, since)

            walked = self._with_provider("searching", cursor, one_pass)
            self.cursors.mark(cursor, "following", polled=True)
            total.add(walked)
            done += 1
            logger.info(
                "found %d product(s), %d new; cursor at %s; next search in %g s",
                walked.seen,
                walked.submitted,
                _iso(cursor.position) if cursor.position else "the start",
                self.settings.interval_s,
            )
            if passes is None or done < passes:
                self.sleep(self.settings.interval_s)
        return total

    def backfill(self, start: datetime, end: datetime) -> Walk:
        """Walk ``[start, end]`` window by window, in order; windows already done are skipped."""
        key = search_key(self.search, "backfill")
        doc = search_doc(self.search, "backfill")
        cuts = windows(start, end, self.settings.backfill_window_days)
        # Every window's cursor first, so that the lag says how many are left.
        cursors = [self.cursors.open(key, "backfill", doc, "datetime", w) for w in cuts]
        total = Walk()
        for n, (window, cursor) in enumerate(zip(cuts, cursors, strict=True), start=1):
            if cursor.done:
                continue
            lo = max(filter(None, (window[0], cursor.position)))
            logger.info(
                "backfill window %d of %d: %s to %s%s",
                n,
                len(cuts),
                _iso(window[0]),
                _iso(window[1]),
                f" (resuming at {_iso(lo)})" if cursor.position else "",
            )

            def one_window(
                cursor: Cursor = cursor, lo: datetime = lo, hi: datetime = window[1]
            ) -> Walk:
                self.cursors.mark(cursor, "backfilling")
                return self.walk(cursor, lo, hi)

            walked = self._with_provider("backfilling", cursor, one_window)
            self.cursors.mark(cursor, "done", polled=True, done=True)
            total.add(walked)
            logger.info(
                "backfill window %d of %d done: %d product(s), %d new",
                n,
                len(cuts),
                walked.seen,
                walked.submitted,
            )
        return total

"""What the tiler reads from pgstac (collections, items, searches), with short-lived caches.

Every cache belongs to one :class:`Catalog`, which belongs to one app: two apps on two
databases never see each other's answers (titiler-pgstac's caches are module globals).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout
from titiler.pgstac.model import Search

from tiler.errors import (
    BadRequest,
    DatabaseUnavailable,
    NotFound,
    StatementTimeout,
    TooManySearches,
)

T = TypeVar("T")

POOL_OPTIONS = "-c search_path=pgstac,public -c application_name=kappacat-tiler"
MOSAIC_FIELDS = {"include": ["assets", "id", "bbox", "collection"]}


class _Memo:
    """A thread-safe cache whose entries expire after ``ttl`` seconds (0: remember nothing).

    When full, the entry put in longest ago goes first. ``None`` (not found) is not
    remembered: what is published next shows at once.
    """

    def __init__(self, ttl: float, maxsize: int) -> None:
        self._ttl, self._maxsize = ttl, maxsize
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: Hashable) -> Any | None:
        """The remembered value of ``key``, if it is still fresh (never waits on anything)."""
        with self._lock:
            entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The remembered value of ``key``, else ``compute()`` (remembered from now on)."""
        if self._ttl <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                cached: T = entry[1]
                return cached
        value = compute()
        if value is None:
            return value
        with self._lock:
            self._entries[key] = (now + self._ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return value


@dataclass(frozen=True)
class CatalogItem:
    """A STAC item as pgstac returns it, and a tag that changes whenever its content does."""

    content: dict[str, Any]
    etag: str


def open_pool(
    url: str, min_size: int, max_size: int, statement_timeout_ms: int = 10_000
) -> ConnectionPool:
    """A psycopg pool on the catalogue with pgstac's search path and a statement timeout;
    fails fast if unreachable."""
    options = f"{POOL_OPTIONS} -c statement_timeout={statement_timeout_ms}"
    pool = ConnectionPool(
        conninfo=url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"options": options, "autocommit": True},
        open=True,
        name="kappacat-tiler",
    )
    pool.wait(timeout=30)
    return pool


def _search_key(search: dict[str, Any], metadata: dict[str, Any]) -> str:
    return json.dumps([search, metadata], sort_keys=True)


class Catalog:
    """Reads collections, items and searches from pgstac through a connection pool.

    The ``cached_*`` methods answer only from memory, so that async code can skip the
    worker thread a database query needs whenever the answer is known.
    """

    def __init__(self, pool: ConnectionPool, ttl: float, max_searches: int = 10_000) -> None:
        self.pool = pool
        self.max_searches = max_searches
        self.search_keep_s = max(2 * ttl, 60.0)
        """A search used this recently is never recycled (its hash may be in a cache)."""
        self._collections = _Memo(ttl, 64)
        self._items = _Memo(ttl, 10_000)
        self._searches = _Memo(ttl, 1_000)
        self._search_info = _Memo(ttl, 1_000)
        self._mosaic_items = _Memo(ttl, 10_000)

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        """A cursor; database faults become 503, pgstac's refusals of bad input 400."""
        try:
            with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                yield cur
        except (pg_errors.DataError, pg_errors.RaiseException) as exc:
            raise BadRequest(
                f"the catalogue refused the query: {exc.diag.message_primary}"
            ) from exc
        except pg_errors.QueryCanceled as exc:
            raise StatementTimeout(
                "the catalogue cancelled the query: it ran longer than the statement timeout "
                "(KAPPACAT_TILER_STATEMENT_TIMEOUT_S); narrow the request (a smaller area, a "
                "shorter time range, a simpler filter)"
            ) from exc
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise DatabaseUnavailable(f"the catalogue database is unavailable: {exc}") from exc

    def collection(self, collection_id: str) -> dict[str, Any]:
        """A collection's JSON; :class:`NotFound` if there is none with this id."""

        def read() -> dict[str, Any] | None:
            with self._cursor() as cur:
                cur.execute("SELECT pgstac.get_collection(%s) AS c", (collection_id,))
                row = cur.fetchone()
            return row["c"] if row else None

        found = self._collections.get(collection_id, read)
        if not found:
            raise NotFound(f"collection {collection_id!r} not found")
        return found

    def collection_ids(self) -> list[str]:
        """Every collection's id, sorted (not cached: it is asked for rarely)."""
        with self._cursor() as cur:
            cur.execute("SELECT id FROM pgstac.collections ORDER BY id")
            return [str(r["id"]) for r in cur.fetchall()]

    def item(self, collection_id: str, item_id: str) -> CatalogItem:
        """One item of a collection; :class:`NotFound` if the collection or item is unknown."""
        self.collection(collection_id)

        def read() -> CatalogItem | None:
            with self._cursor() as cur:
                cur.execute("SELECT pgstac.get_item(%s, %s) AS i", (item_id, collection_id))
                row = cur.fetchone()
            content = row["i"] if row else None
            if not content:
                return None
            canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
            return CatalogItem(content, hashlib.sha256(canonical.encode()).hexdigest()[:32])

        found = self._items.get((collection_id, item_id), read)
        if found is None:
            raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")
        return found

    def register_search(self, search: dict[str, Any], metadata: dict[str, Any]) -> str:
        """Register a search as a mosaic in pgstac (idempotent); returns its hash.

        At most :attr:`max_searches` are kept: a new search beyond them takes the row of the
        least recently used one, as long as that was not used in the last
        :attr:`search_keep_s` seconds (:class:`TooManySearches` otherwise).
        """
        key = _search_key(search, metadata)
        search_json, metadata_json = json.dumps(search), json.dumps(metadata)

        def register() -> str:
            with self._cursor() as cur, cur.connection.transaction():
                cur.execute(
                    "SELECT 1 FROM pgstac.searches"
                    " WHERE hash = pgstac.search_hash(%s::jsonb, %s::jsonb)",
                    (search_json, metadata_json),
                )
                if cur.fetchone() is None:
                    self._make_room(cur, search_json, metadata_json)
                cur.execute(
                    "SELECT hash FROM pgstac.search_query(%s::jsonb, _metadata => %s::jsonb)",
                    (search_json, metadata_json),
                )
                row = cur.fetchone()
            if not row:
                raise BadRequest("the catalogue did not register the search")
            return str(row["hash"])

        return self._searches.get(key, register)

    def _make_room(self, cur: psycopg.Cursor[dict[str, Any]], search: str, metadata: str) -> None:
        """With the searches at their limit, recycle the least recently used row for a new one
        (the read role may update the searches table, not delete from it)."""
        cur.execute("SELECT count(*) AS n FROM pgstac.searches")
        row = cur.fetchone()
        if row is None or row["n"] < self.max_searches:
            return
        cur.execute(
            "UPDATE pgstac.searches SET search = %s::jsonb, metadata = %s::jsonb,"
            " lastused = now(), usecount = 0"
            " WHERE hash = (SELECT hash FROM pgstac.searches"
            "  WHERE lastused < now() - make_interval(secs => %s)"
            "  ORDER BY lastused LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " RETURNING hash",
            (search, metadata, self.search_keep_s),
        )
        if cur.fetchone() is None:
            raise TooManySearches(
                f"{row['n']} searches are registered, the limit "
                "(KAPPACAT_TILER_MAX_REGISTERED_SEARCHES), and every one was used in the last "
                f"{self.search_keep_s:.0f} s; try again later"
            )

    def search_info(self, search_id: str) -> Search:
        """A registered search; :class:`NotFound` if no search has this hash."""

        def read() -> Search | None:
            with self._cursor() as cur:
                cur.execute("SELECT * FROM pgstac.searches WHERE hash = %s", (search_id,))
                row = cur.fetchone()
            return Search.model_validate(row) if row else None

        found = self._search_info.get(search_id, read)
        if found is None:
            raise NotFound(f"search {search_id!r} not found")
        return found

    def list_searches(
        self, limit: int, offset: int, metadata: dict[str, str], order: list[tuple[str, bool]]
    ) -> tuple[list[Search], int]:
        """A page of the registered mosaic searches whose metadata has the given values, in
        ``order`` ((``lastused``, ``usecount`` or a metadata property, descending)); and how
        many match."""
        where = [sql.SQL("metadata->>'type' = 'mosaic'")]
        params: list[Any] = []
        for key, value in metadata.items():
            where.append(sql.SQL("metadata->>%s = %s"))
            params += [key, value]
        sorts = []
        for name, descending in order:
            column: sql.Composable = sql.SQL("metadata->>%s")
            if name in ("lastused", "usecount"):
                column = sql.Identifier(name)
            else:
                params.append(name)
            sorts.append(sql.SQL("{} DESC" if descending else "{} ASC").format(column))
        condition = sql.SQL(" AND ").join(where)
        ordering = (
            sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(sorts)) if sorts else sql.SQL("")
        )
        with self._cursor() as cur:
            count_params = params[: 2 * len(metadata)]
            cur.execute(
                sql.SQL("SELECT count(*) AS n FROM pgstac.searches WHERE {}").format(condition),
                count_params,
            )
            matched = int((cur.fetchone() or {"n": 0})["n"])
            cur.execute(
                sql.SQL("SELECT * FROM pgstac.searches WHERE {}{} LIMIT %s OFFSET %s").format(
                    condition, ordering
                ),
                [*params, limit, offset],
            )
            rows = [Search.model_validate(r) for r in cur.fetchall()]
        return rows, matched

    def cached_collection(self, collection_id: str) -> dict[str, Any] | None:
        """The collection if it is remembered (no database)."""
        found: dict[str, Any] | None = self._collections.peek(collection_id)
        return found

    def cached_item(self, collection_id: str, item_id: str) -> CatalogItem | None:
        """The item if it is remembered (no database)."""
        found: CatalogItem | None = self._items.peek((collection_id, item_id))
        return found

    def cached_search(self, search: dict[str, Any], metadata: dict[str, Any]) -> str | None:
        """The hash of a search registered before (no database)."""
        found: str | None = self._searches.peek(_search_key(search, metadata))
        return found

    def cached_search_info(self, search_id: str) -> Search | None:
        """A registered search if it is remembered (no database)."""
        found: Search | None = self._search_info.peek(search_id)
        return found

    def mosaic_items(
        self,
        search_id: str,
        geometry: str,
        items_limit: int,
        time_limit: int,
        exitwhenfull: bool = True,
        skipcovered: bool = True,
    ) -> list[dict[str, Any]]:
        """The items of a registered search over a GeoJSON geometry, in the search's order."""
        self.search_info(search_id)
        key = (search_id, geometry, items_limit, exitwhenfull, skipcovered)

        def read() -> list[dict[str, Any]]:
            with self._cursor() as cur:
                cur.execute(
                    "SELECT pgstac.geojsonsearch(%s::jsonb, %s, %s::jsonb, %s, %s, %s::interval,"
                    " %s, %s) AS fc",
                    (
                        geometry,
                        search_id,
                        json.dumps(MOSAIC_FIELDS),
                        10_000,
                        items_limit,
                        f"{time_limit} seconds",
                        exitwhenfull,
                        skipcovered,
                    ),
                )
                row = cur.fetchone()
            return list(((row or {}).get("fc") or {}).get("features") or [])

        return self._mosaic_items.get(key, read)

    def search_items(self, search: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Items matching a STAC search, at most ``limit``; and whether more matched."""
        body = {**search, "limit": limit + 1}
        with self._cursor() as cur:
            cur.execute("SELECT pgstac.search(%s::jsonb) AS fc", (json.dumps(body),))
            row = cur.fetchone()
        features = list(((row or {}).get("fc") or {}).get("features") or [])
        return features[:limit], len(features) > limit

    def nearest_dates(self, search: dict[str, Any], start: str, end: str) -> dict[str, Any]:
        """For a search without ``datetime``: whether an item lies in ``start``..``end``, and
        the datetimes of the nearest items before and after it (``None`` where there is none).

        Each answer reads one end of the datetime index, never every item of the collection.
        """
        with self._cursor() as cur:
            cur.execute("SELECT pgstac.stac_search_to_where(%s::jsonb) AS w", (json.dumps(search),))
            row = cur.fetchone()
            where = sql.SQL(str((row or {}).get("w") or "TRUE"))
            first, last = sql.Literal(start), sql.Literal(end)
            cur.execute(
                sql.SQL(
                    "SELECT"
                    " EXISTS (SELECT 1 FROM pgstac.items WHERE ({w})"
                    "  AND datetime >= {first}::timestamptz AND datetime <= {last}::timestamptz)"
                    "  AS inside,"
                    " (SELECT max(datetime) FROM pgstac.items WHERE ({w})"
                    "  AND datetime < {first}::timestamptz) AS before,"
                    " (SELECT min(datetime) FROM pgstac.items WHERE ({w})"
                    "  AND datetime > {last}::timestamptz) AS after"
                ).format(w=where, first=first, last=last)
            )
            found = cur.fetchone() or {}
        return {
            "inside": bool(found.get("inside")),
            "before": found["before"].isoformat() if found.get("before") else None,
            "after": found["after"].isoformat() if found.get("after") else None,
        }

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except (psycopg.OperationalError, PoolTimeout):
            return False

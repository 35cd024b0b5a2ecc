"""Following a provider: ``kappacat discover --follow`` and ``--backfill`` as real processes
against KappaCat's own STAC API serving a source collection that gains items meanwhile."""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from catalog.settings import DatabaseSettings
from ingest.errors import SourceError
from ingest.follow import Backoff, parse_interval, windows
from ingest.jobs import JobStore
from ingest.metrics import follow_probe
from ingest.publish import upsert_collections
from ingest.settings import BrokerSettings
from tests.ingest.conftest import REPO, kappacat
from tests.ingest.helpers import jobs, log_records, wait_for
from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EnvFactory = Callable[..., dict[str, str]]
SOURCE = "sentinel-2-l1c"
TEMPLATE = Path(__file__).resolve().parents[1] / "data" / "providers" / "earth-search-l1c.json"
"""A real Earth Search Level-1C item (with ``created`` and ``updated``): what every source
item of these tests is made from, under its own id and sensing time."""


def source_collection() -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": SOURCE,
        "description": "Sentinel-2 Level-1C products, as a provider serves them",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [["2015-06-27T00:00:00Z", None]]},
        },
        "links": [],
    }


class Source:
    """The provider's collection, in the catalogue database the test's API serves."""

    def __init__(self, database: DatabaseSettings, files: Path, *, times: bool = True) -> None:
        self.database = database
        self.files = files
        self.template = json.loads(TEMPLATE.read_text())
        self.added: dict[str, datetime] = {}
        upsert_collections(database.url, [source_collection()])
        if not times:
            return
        # Like Earth Search, the provider can filter and sort on its items' times.
        with psycopg.connect(database.url) as conn:
            conn.execute("SET search_path TO pgstac, public")  # the queryables trigger needs it
            for name in ("created", "updated"):
                conn.execute(
                    "INSERT INTO pgstac.queryables"
                    " (name, collection_ids, definition, property_wrapper)"
                    " VALUES (%s, %s, %s, 'to_tstz')",
                    (
                        name,
                        [SOURCE],
                        json.dumps({"type": "string", "format": "date-time"}),
                    ),
                )

    def item(self, sensed: datetime) -> dict[str, Any]:
        """A new product sensed at ``sensed``, published now, its assets in local files."""
        item = copy.deepcopy(self.template)
        day = sensed.strftime("%Y%m%d")
        item["id"] = f"S2B_24MVV_{day}_{sensed:%H%M}_L1C"
        item["collection"] = SOURCE
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        item["properties"].update(
            {"datetime": sensed.isoformat().replace("+00:00", "Z"), "created": now, "updated": now}
        )
        folder = self.files / item["id"]
        folder.mkdir(parents=True)
        for name, asset in item["assets"].items():
            path = folder / Path(asset["href"]).name
            path.write_bytes(b"")  # never read: following only submits
            asset["href"] = path.as_uri()
            del name
        item["links"] = []
        return item

    def add(self, *sensed: datetime) -> list[str]:
        """Publish products in the source collection (one batch); their ids."""
        from pypgstac.load import Loader, Methods

        from catalog.db import pgstac_db

        batch = [self.item(when) for when in sensed]
        with pgstac_db(self.database.url) as db:
            Loader(db=db).load_items(iter(batch), insert_mode=Methods.insert)
        for item, when in zip(batch, sensed, strict=True):
            self.added[item["id"]] = when
        return [item["id"] for item in batch]


class Api:
    """``kappacat serve api`` on a port of its own, that the test can stop and start again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kappacat", "serve", "api", "--port", str(self.port)],
                env={**os.environ, **self.env},
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{self.url}/_mgmt/health", timeout=2).status_code == 200
            return False

        wait_for(healthy, "the source API to answer", timeout=90, interval=0.3)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class Command:
    """A long-running ``kappacat discover ...`` that the test kills and starts again."""

    def __init__(self, env: dict[str, str], logdir: Path, *args: str) -> None:
        self.env, self.logdir, self.args = env, logdir, args
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        self.runs += 1
        with (self.logdir / f"run-{self.runs}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kappacat", "discover", *self.args],
                env={**os.environ, **self.env, **env},
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.proc

    def log(self, run: int | None = None) -> str:
        return (self.logdir / f"run-{run or self.runs}.log").read_text(errors="replace")

    def messages(self, run: int | None = None) -> list[str]:
        return [message for _, message in log_records(self.log(run))]

    def kill(self) -> None:
        """SIGKILL: no chance to tidy up."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None


@pytest.fixture
def source(database: DatabaseSettings, tmp_path: Path) -> Source:
    return Source(database, tmp_path / "provider-files")


@pytest.fixture
def api(database: DatabaseSettings, tmp_path: Path) -> Iterator[Api]:
    assets = tmp_path / "assets"
    assets.mkdir()
    server = Api(
        {"KAPPACAT_DATABASE_URL": database.url, "KAPPACAT_API_ASSETS_DIR": str(assets)},
        tmp_path / "api.log",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def commands(tmp_path: Path) -> Iterator[Callable[..., Command]]:
    started: list[Command] = []

    def make(env: dict[str, str], *args: str) -> Command:
        logdir = tmp_path / f"discover-{len(started)}"
        logdir.mkdir()
        command = Command(env, logdir, *args)
        started.append(command)
        return command

    yield make
    for command in started:
        command.kill()


def follow_env(pipeline_env: EnvFactory, broker: BrokerSettings, **extra: str) -> dict[str, str]:
    return pipeline_env(
        broker,
        KAPPACAT_FOLLOW_INTERVAL_S="0.5",
        KAPPACAT_FOLLOW_MIN_BACKOFF_S="0.2",
        KAPPACAT_FOLLOW_MAX_BACKOFF_S="1",
        KAPPACAT_FOLLOW_PAGE_SIZE="2",  # several pages per search: the cursor moves per page
        KAPPACAT_WORKER_LOG_FORMAT="json",
        **extra,
    )


def submitted(database: DatabaseSettings) -> list[str]:
    return [job.product_id for job in jobs(database)]


def wait_submitted(database: DatabaseSettings, ids: set[str], command: Command) -> None:
    def all_there() -> bool:
        assert command.proc is not None and command.proc.poll() is None, command.log()
        return ids <= set(submitted(database))

    try:
        wait_for(all_there, f"{len(ids)} products submitted", timeout=180, interval=0.3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{command.log()[-4000:]}") from exc


def sent_messages(broker: BrokerSettings) -> int:
    """Messages sent to the fetch queue (no worker takes them in these tests)."""
    client = redis.Redis.from_url(broker.url)
    return int(client.hlen(f"{broker.redis_namespace}:{broker.queue_name('fetch')}.msgs"))


def days(first: datetime, n: int, start: int = 0) -> list[datetime]:
    return [first + timedelta(days=d) for d in range(start, start + n)]


def test_a_follower_submits_every_new_product_once_across_a_kill_and_a_provider_outage(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    source: Source,
    api: Api,
    commands: Callable[..., Command],
) -> None:
    first = datetime(2025, 7, 1, 10, 30, tzinfo=UTC)
    env = follow_env(pipeline_env, redis_broker)
    follower = commands(env, "--stac-url", api.url, "--collection", SOURCE, "--follow")

    source.add(*days(first, 3))
    follower.start()
    wait_submitted(database, set(source.added), follower)
    source.add(*days(first, 3, start=3))
    wait_submitted(database, set(source.added), follower)

    # Killed while it may be in the middle of a search, with products arriving around it.
    source.add(*days(first, 3, start=6))
    time.sleep(0.3)
    follower.kill()
    source.add(*days(first, 2, start=9))
    follower.start()
    wait_submitted(database, set(source.added), follower)
    (started,) = [m for m in follower.messages() if m.startswith("following ")]
    assert " on updated from " in started and "the start" not in started, started  # its cursor

    # The provider goes down: the follower waits, then picks up what came meanwhile.
    api.stop()
    wait_for(
        lambda: any(m.startswith("provider down") for m in follower.messages()),
        "the follower to notice the provider is down",
        timeout=60,
    )
    newest = source.add(first + timedelta(days=20), *days(first, 2, start=11))[0]
    assert follower.proc is not None and follower.proc.poll() is None, follower.log()
    api.start()
    wait_submitted(database, set(source.added), follower)
    wait_for(
        lambda: any("answers again" in m for m in follower.messages()),
        "the follower to say the provider is back",
        timeout=60,
    )

    found = submitted(database)
    assert sorted(found) == sorted(source.added), "every product, none missed"
    assert len(found) == len(set(found)) == 14
    assert sent_messages(redis_broker) == 14, "each product was sent to the workers once"

    listing = kappacat(env, "jobs")
    assert listing.returncode == 0, listing.stderr
    sensed = source.added[newest].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"newest product {newest} sensed {sensed}" in listing.stdout, listing.stdout
    assert f"following {api.url} {SOURCE} on updated" in listing.stdout, listing.stdout
    assert "14 product(s) waiting for a worker" in listing.stdout, listing.stdout
    doc = json.loads(kappacat(env, "jobs", "--json").stdout)
    (lag,) = doc["follow"]["followers"]
    assert lag["newest_product"] == newest and lag["field"] == "updated"
    assert datetime.fromisoformat(lag["newest_datetime"]) == source.added[newest]
    age = (datetime.now(UTC) - source.added[newest]).total_seconds()
    assert age - 120 < lag["newest_age_s"] <= age
    assert doc["follow"]["waiting"] == 14


def test_without_update_times_a_follower_follows_sensing_times_with_an_overlap(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    api: Api,
    commands: Callable[..., Command],
    tmp_path: Path,
) -> None:
    """A provider that cannot filter on ``updated``: the cursor is on ``datetime``, and a
    product published late, sensed before the newest one seen, still comes in."""
    source = Source(database, tmp_path / "provider-files", times=False)
    first = datetime(2025, 7, 1, 10, 30, tzinfo=UTC)
    env = follow_env(pipeline_env, redis_broker)
    follower = commands(
        env,
        "--stac-url",
        api.url,
        "--collection",
        SOURCE,
        "--datetime",
        "2025-06-01T00:00:00Z/..",
        "--follow",
    )
    source.add(datetime(2025, 5, 20, tzinfo=UTC), *days(first, 4))  # the first: before --datetime
    follower.start()
    wait_submitted(database, set(list(source.added)[1:]), follower)
    late = source.add(first + timedelta(days=2, hours=5), first + timedelta(days=6))
    wait_submitted(database, set(list(source.added)[1:]), follower)
    started = next(m for m in follower.messages() if m.startswith("following "))
    assert f"{SOURCE} on datetime from the start" in started, started
    found = submitted(database)
    assert sorted(found) == sorted(list(source.added)[1:]) and late[0] in found
    assert sent_messages(redis_broker) == 6
    # Shown in UTC whatever the database session's time zone.
    listing = kappacat({**env, "PGTZ": "Asia/Tokyo"}, "jobs")
    assert f"on datetime: newest product {late[1]} sensed 2025-07-07T10:30:00Z" in listing.stdout


def test_a_backfill_walks_windows_in_order_waits_for_room_and_resumes_after_a_crash(
    database: DatabaseSettings,
    redis_broker: BrokerSettings,
    pipeline_env: EnvFactory,
    source: Source,
    api: Api,
    commands: Callable[..., Command],
) -> None:
    # Two products a month over half a year; one month empty.
    sensed = [
        datetime(2023, month, day, 10, 30, tzinfo=UTC)
        for month in (1, 2, 3, 5, 6)
        for day in (3, 17)
    ]
    source.add(*sensed)
    outside = source.add(datetime(2022, 12, 20, tzinfo=UTC), datetime(2023, 7, 5, tzinfo=UTC))
    env = follow_env(pipeline_env, redis_broker, KAPPACAT_FOLLOW_BACKFILL_WINDOW_DAYS="30")
    backfill = commands(
        env,
        "--stac-url",
        api.url,
        "--collection",
        SOURCE,
        "--datetime",
        "2023-01-01T00:00:00Z/2023-07-01T00:00:00Z",
        "--backfill",
    )
    # Room for five jobs only, and no worker to take them: the backfill stops and waits.
    backfill.start(KAPPACAT_INGEST_MAX_QUEUED="5")
    wait_for(
        lambda: any(m.startswith("queue full: 5 jobs") for m in backfill.messages()),
        "the backfill to wait for room in the queue",
        timeout=120,
    )
    assert len(submitted(database)) == 5
    backfill.kill()

    # Started again with room to spare, it goes on where it stopped: the first two windows
    # (four products) are done, the third (where it waited) is walked again.
    backfill.start(KAPPACAT_INGEST_MAX_QUEUED="100")
    assert backfill.proc is not None
    assert backfill.proc.wait(timeout=180) == 0, backfill.log()
    assert "backfill done:" in backfill.log(), backfill.log()
    windows = [
        m for m in backfill.messages() if m.startswith("backfill window") and "done" not in m
    ]
    assert windows[0].startswith("backfill window 3 of 7"), windows
    assert [int(m.split()[2]) for m in windows] == list(range(3, 8)), windows

    found = submitted(database)
    in_range = sorted(set(source.added) - set(outside))
    assert sorted(found) == in_range and len(found) == 10
    assert sent_messages(redis_broker) == 10

    # Once done, a backfill run again walks nothing and submits nothing.
    again = kappacat(
        env,
        "discover",
        "--stac-url",
        api.url,
        "--collection",
        SOURCE,
        "--datetime",
        "2023-01-01T00:00:00Z/2023-07-01T00:00:00Z",
        "--backfill",
    )
    assert again.returncode == 0, again.stderr
    assert "backfill done: 0 product(s) found, 0 submitted" in again.stdout, again.stdout
    listing = kappacat(env, "jobs")
    assert f"backfill {api.url} {SOURCE}: 7 of 7 windows done" in listing.stdout, listing.stdout

    # What an operator's alert reads: the worker host's scrape of the follower's lag.
    store = JobStore(database.url, pool_size=1)
    try:
        scraped = generate_latest(_Probed(follow_probe(store))).decode()
    finally:
        store.close()
    families = {f.name: f.samples for f in text_string_to_metric_families(scraped)}
    labels = {"kind": "backfill", "source": api.url, "collections": SOURCE}
    [done] = families["kappacat_follow_submitted_products"]
    # the cursors count what each run submitted page by page: the page in flight at the
    # kill went into the job table uncounted, and the restarted run skips it as known
    assert done.labels == labels and 5 < done.value <= 10
    [age] = families["kappacat_follow_newest_product_age_seconds"]
    newest = max(sensed)  # 2023-06-17, the newest product inside the backfill's range
    assert age.labels == labels
    assert age.value == pytest.approx((datetime.now(UTC) - newest).total_seconds(), abs=600)
    [searched] = families["kappacat_follow_last_search_age_seconds"]
    assert 0 <= searched.value < 600


class _Probed:
    """A registry's collector for one probe (as the worker host's registry holds them)."""

    def __init__(self, probe: Any) -> None:
        self.probe = probe

    def collect(self) -> Any:
        return self.probe()


def test_follow_refuses_options_that_would_submit_twice(
    database: DatabaseSettings, redis_broker: BrokerSettings, pipeline_env: EnvFactory
) -> None:
    env = pipeline_env(redis_broker)
    base = ["discover", "--stac-url", "http://127.0.0.1:9", "--collection", SOURCE]
    forced = kappacat(env, *base, "--follow", "--force")
    assert forced.returncode == 1
    assert "--follow submits each product once" in forced.stderr
    open_ended = kappacat(env, *base, "--backfill", "--datetime", "2023-01-01T00:00:00Z/..")
    assert open_ended.returncode == 1
    assert "--backfill needs --datetime START/END" in open_ended.stderr


def test_a_search_the_provider_refuses_stops_the_follower_with_its_reason(
    redis_broker: BrokerSettings, pipeline_env: EnvFactory, api: Api
) -> None:
    env = follow_env(pipeline_env, redis_broker)
    proc = kappacat(env, "discover", "--stac-url", api.url, "--collection", "nowhere", "--follow")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{api.url}: the STAC API refused the search (HTTP 404)" in proc.stderr
    assert "nowhere" in proc.stderr


def test_pauses_double_with_jitter_up_to_the_longest() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(7))
    pauses = [backoff.next() for _ in range(6)]
    for pause, step in zip(pauses, [1, 2, 4, 8, 8, 8], strict=True):
        assert step / 2 <= pause <= step
    assert len(set(pauses)) == len(pauses), "jittered, so that followers do not march in step"
    backoff.reset()
    assert backoff.next() <= 1.0


def test_backfill_windows_cover_the_interval_in_order() -> None:
    start, end = datetime(2017, 1, 1, tzinfo=UTC), datetime(2017, 3, 15, tzinfo=UTC)
    cuts = windows(start, end, 30)
    assert cuts[0][0] == start and cuts[-1][1] == end and len(cuts) == 3
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))
    assert parse_interval("2017-01-01T00:00:00Z/..") == (start, None)
    with pytest.raises(SourceError, match="'yesterday' is not an RFC 3339 time"):
        parse_interval("yesterday/2017-03-15T00:00:00Z")

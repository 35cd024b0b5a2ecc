"""The same three shared settings, and nothing else, make the worker, API and tiler work together.

An operator who gives every component ``KAPPACAT_DATABASE_URL``, ``KAPPACAT_BROKER_URL`` and
``KAPPACAT_STORAGE_URL`` gets masks the API serves and the tiler draws: the API serves local
storage under ``/assets`` (where the items' hrefs point by default), and the tiler reads from
the storage the pipeline wrote to, without ``KAPPACAT_TILER_STORAGE_ROOTS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

from catalog.legend import CLEAR, LEGEND_BY_VALUE
from catalog.settings import DatabaseSettings
from tests.ingest.conftest import PrivateRedis, Workers, kappacat
from tests.ingest.helpers import items, wait_done, write_products
from tests.servers import serve
from tests.tiler.pixels import decode_png, tile_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_three_shared_settings_make_the_pipeline_api_and_tiler_work_together(
    database: DatabaseSettings,
    private_redis: PrivateRedis,  # its own server: default queue names touch no one else's
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    shared = {
        "KAPPACAT_DATABASE_URL": database.url,
        "KAPPACAT_BROKER_URL": private_redis.url,
        "KAPPACAT_STORAGE_URL": str(tmp_path / "storage"),
    }
    # Not a composition setting: only keeps the worker off a port other tests may hold.
    worker_env = {**shared, "KAPPACAT_WORKER_METRICS_PORT": "0"}
    [product] = write_products(tmp_path / "products", 1)
    pool = workers(worker_env)
    pool.start("--processes", "1")
    submitted = kappacat(worker_env, "ingest", str(product.path))
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    [job] = wait_done(database, 1, logs=pool.logs)
    assert job.status == "succeeded", job.last_error
    [item] = items(database)
    href = item["assets"]["mask"]["href"]
    assert href.startswith("http://127.0.0.1:8081/assets/"), href

    # The API serves the mask at the path its href names.
    with serve("api", shared, "/_mgmt/health") as api:
        served = httpx.get(api + urlsplit(href).path, timeout=30)
        assert served.status_code == 200
        assert served.content[:4] in (b"II*\x00", b"MM\x00*")  # a TIFF
        assert len(served.content) == item["assets"]["mask"]["file:size"]

    # The tiler draws it, in the legend's colours.
    west, south, east, north = item["bbox"]
    tile = tile_for((west + east) / 2, (south + north) / 2, 12)
    with serve("tiler", shared, "/healthz") as tiler:
        url = (
            f"{tiler}/collections/{item['collection']}/items/{item['id']}"
            f"/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
        )
        drawn = httpx.get(url, timeout=30)
    assert drawn.status_code == 200, drawn.text[:300]
    rgba = decode_png(drawn.content)
    clear = np.array(LEGEND_BY_VALUE[CLEAR].rgba)[:, None, None]
    assert int(np.all(rgba == clear, axis=0).sum()) > 1000  # clear land drawn in its colour

"""The web map in a real headless Chromium, served by ``kappacat serve tiler``, with and without
a proxy path prefix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from catalog.legend import LEGEND
from tests.servers import serve
from tests.tiler.browser import Page, chromium_path, open_page
from tests.tiler.conftest import COLLECTION, TilerData
from tests.tiler.pixels import open_rgba
from tests.tiler.proxy import prefix_proxy
from tiler.viewer import BUILD_HINT, missing_vendor_files

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "/maps/masks"
API_URL = "https://stac.example.test/api"
JUNE_VIEW = "?start=2023-06-01&end=2023-06-30"  # July's items are outside the storage roots
READY = (
    "!!document.documentElement && document.documentElement.dataset.mapIdle === '1'"
    " && !!window.kappacatMap"
    " && !!window.kappacatMap.getSource('masks') && window.kappacatMap.areTilesLoaded()"
)


@pytest.fixture(scope="module")
def tiler_url(tiler_data: TilerData) -> Iterator[str]:
    """``kappacat serve tiler`` as a real process, configured for the prefix ``PREFIX``."""
    if missing_vendor_files():
        pytest.fail(f"MapLibre GL JS is not in tiler/static/vendor: {BUILD_HINT}")
    if chromium_path() is None:
        pytest.fail("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    env = {
        "KAPPACAT_DATABASE_URL": tiler_data.database.url,
        "KAPPACAT_DATABASE_READ_URL": tiler_data.database.reader_url,
        "KAPPACAT_TILER_STORAGE_ROOTS": str(tiler_data.root),
        "KAPPACAT_TILER_API_URL": API_URL,
        "KAPPACAT_TILER_ROOT_PATH": PREFIX,
    }
    with serve("tiler", env, "/healthz") as url:
        yield url


def legend_pixel_counts(png: bytes) -> dict[str, int]:
    """How many screenshot pixels have each legend colour (within 2 levels per channel)."""
    rgb = open_rgba(png)[:3].astype(int)
    counts = {}
    for cls in LEGEND:
        if cls.color:
            colour = np.array(cls.rgba[:3])[:, None, None]
            counts[cls.name] = int(np.all(np.abs(rgb - colour) <= 2, axis=0).sum())
    return counts


def check_web_map(page: Page, url: str) -> None:
    """Load the map, see mask colours in it, click a pixel and read its class and product."""
    page.send("Page.navigate", {"url": url})
    page.wait_for(READY, timeout=60)
    rect = json.loads(
        page.evaluate("JSON.stringify(document.getElementById('map').getBoundingClientRect())")
    )
    shot = page.screenshot({k: rect[k] for k in ("x", "y", "width", "height")})
    counts = legend_pixel_counts(shot)
    shown = [name for name, n in counts.items() if n > 500]
    assert len(shown) >= 4, counts  # the masks are drawn in the legend colours

    legend = page.evaluate("document.getElementById('legend').innerText")
    assert all(cls.title in legend for cls in LEGEND)

    page.click(rect["x"] + rect["width"] * 0.6, rect["y"] + rect["height"] / 2)
    page.wait_for("!document.getElementById('info').hidden", timeout=30)
    info = page.evaluate("document.getElementById('info-body').innerText")
    assert any(cls.title in info for cls in LEGEND if cls.value), info
    hrefs = page.evaluate(
        "[...document.querySelectorAll('#info-body a')].map(a => a.href).join(' ')"
    )
    assert f"{API_URL}/collections/{COLLECTION}/items/S2B_MSIL1C_2023060" in hrefs
    assert page.console_errors() == []


def test_web_map_shows_the_masks_and_answers_clicks(tiler_url: str, tmp_path: Path):
    with open_page(tmp_path / "profile") as page:
        check_web_map(page, f"{tiler_url}/viewer{JUNE_VIEW}")
        # a date range the tiler would refuse is caught in the page, not sent
        page.evaluate(
            "(() => { const end = document.getElementById('end'); end.value = '2023-05-01';"
            " end.dispatchEvent(new Event('change')); })()"
        )
        status = page.evaluate(
            "document.getElementById('status').className + ' ' +"
            " document.getElementById('status').textContent"
        )
        assert status.startswith("error") and "before the start" in status
        assert page.console_errors() == []


def test_web_map_works_behind_a_proxy_path_prefix(tiler_url: str, tmp_path: Path):
    with prefix_proxy(tiler_url, PREFIX) as public:
        tilejson = httpx.get(f"{public}/collections/{COLLECTION}/WebMercatorQuad/tilejson.json")
        assert tilejson.status_code == 200
        assert tilejson.json()["tiles"][0].startswith(f"{public}/collections/{COLLECTION}/tiles/")
        with open_page(tmp_path / "profile") as page:
            check_web_map(page, f"{public}/viewer{JUNE_VIEW}")
            requested = page.evaluate(
                "performance.getEntriesByType('resource').map(e => e.name).join(' ')"
            )
            assert f"{public}/static/vendor/maplibre-gl.js" in requested
            assert f"{public}/collections/{COLLECTION}/tiles/WebMercatorQuad/" in requested

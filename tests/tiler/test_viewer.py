"""The web map in a real headless Chromium, served by ``kappacat serve tiler``: masks on the offline
basemap, the collections told apart, dates that move to data or a plain "nothing matches",
point answers that never go stale, the class shares under the cursor, a phone-wide layout, and a
proxy path prefix.

``SCREENSHOTS_DIR=docs .venv/bin/pytest tests/tiler/test_viewer.py -k offline`` also writes the
README's screenshot of the web map (``docs/web-map.png``) from the offline test's own page.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from catalog.legend import LEGEND
from tests.servers import serve
from tests.tiler.browser import Page, chromium_path, open_page, requested_urls, save_screenshot
from tests.tiler.conftest import COLLECTION, JUNE, TilerData
from tests.tiler.pixels import open_rgba
from tests.tiler.proxy import prefix_proxy
from tiler.viewer import BUILD_HINT, missing_vendor_files

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "/maps/masks"
API_URL = "https://stac.example.test/api"
JUNE_VIEW = "?start=2023-06-01&end=2023-06-30"  # July's items are outside the storage roots
L2A = "sentinel-2-l2a-kappamask"
READY = (
    "!!document.documentElement && document.documentElement.dataset.mapIdle === '1'"
    " && document.documentElement.dataset.viewer === 'ready' && !!window.kappacatMap"
    " && !!window.kappacatMap.getSource('masks') && window.kappacatMap.areTilesLoaded()"
)
SETTLED = (
    "!!document.documentElement && document.documentElement.dataset.viewer === 'ready'"
    " && document.documentElement.dataset.mapIdle === '1'"
)
"""The page answered the last change (dates looked up, layers set) and the map has drawn."""
BASEMAP = {"land": "#f3f1ec", "coastline": "#3f6e8c", "border": "#a0528a"}
"""The offline basemap's colours (tiler/static/viewer.js)."""


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


def colour_count(png: bytes, colour: str, tolerance: int = 2) -> int:
    """How many screenshot pixels have the ``#rrggbb`` colour (within ``tolerance`` levels)."""
    rgb = open_rgba(png)[:3].astype(int)
    hexa = colour.lstrip("#")
    wanted = np.array([int(hexa[i : i + 2], 16) for i in (0, 2, 4)])[:, None, None]
    return int(np.all(np.abs(rgb - wanted) <= tolerance, axis=0).sum())


def legend_pixel_counts(png: bytes) -> dict[str, int]:
    """How many screenshot pixels have each legend colour (within 2 levels per channel)."""
    return {cls.name: colour_count(png, cls.color) for cls in LEGEND if cls.color}


def map_rect(page: Page) -> dict[str, float]:
    """Where the map is on the page."""
    rect = json.loads(
        page.evaluate("JSON.stringify(document.getElementById('map').getBoundingClientRect())")
    )
    return {k: rect[k] for k in ("x", "y", "width", "height")}


def text(page: Page, element_id: str) -> str:
    """The visible text of an element ('' if it or a parent is hidden)."""
    return str(
        page.evaluate(
            f"(() => {{ const el = document.getElementById('{element_id}');"
            " return el && el.offsetParent !== null ? el.innerText : ''; })()"
        )
    )


def change(page: Page, js_setter: str) -> None:
    """Run a setter on the controls, fire its change event and wait for the page to settle."""
    page.evaluate(
        "(() => { document.documentElement.dataset.viewer = 'busy';"
        f" const el = ({js_setter}); el.dispatchEvent(new Event('change', {{bubbles: true}}));"
        " })()"
    )
    page.wait_for(SETTLED, timeout=60)


def jump(page: Page, view: str) -> None:
    """Move the map to a view (a JavaScript object literal) at once; wait until it is drawn."""
    page.evaluate(
        f"(() => {{ document.documentElement.dataset.mapIdle = '';"
        f" window.kappacatMap.jumpTo({view}); }})()"
    )
    page.wait_for(SETTLED, timeout=60)


def set_value(element_id: str, value: str) -> str:
    """JavaScript that sets a control's value and returns the control (for :func:`change`)."""
    return (
        f"(() => {{ const el = document.getElementById('{element_id}'); el.value = '{value}';"
        " return el; })()"
    )


def pick_collection(collection_id: str) -> str:
    return (
        "(() => { const el = document.querySelector("
        f"'input[name=collection][value=\"{collection_id}\"]'); el.checked = true; return el; }})()"
    )


def check_web_map(page: Page, url: str) -> None:
    """Load the map, see mask colours in it, click a pixel and read its class and product."""
    page.send("Page.navigate", {"url": url})
    page.wait_for(READY, timeout=60)
    rect = map_rect(page)
    shot = page.screenshot(rect)
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


def screenshots_dir() -> Path | None:
    """Where to also write the README's screenshots (``SCREENSHOTS_DIR``), if anywhere."""
    folder = os.environ.get("SCREENSHOTS_DIR")
    return Path(folder) if folder else None


def test_web_map_offline_draws_the_basemap_under_the_masks(tiler_url: str, tmp_path: Path):
    with open_page(tmp_path / "profile", offline=True) as page:
        page.send("Page.navigate", {"url": f"{tiler_url}/viewer{JUNE_VIEW}"})
        page.wait_for(READY, timeout=60)
        # zoom out until the masks and some land around them show
        jump(page, "{zoom: window.kappacatMap.getZoom() - 1.5}")
        page.wait_for(READY, timeout=60)
        shot = page.screenshot(map_rect(page))
        counts = legend_pixel_counts(shot)
        assert len([n for n in counts.values() if n > 300]) >= 4, counts
        assert colour_count(shot, BASEMAP["land"]) > 5000  # land around the masks, not grey
        if folder := screenshots_dir():
            # the masks with the border nearby, and the panel with the legend
            jump(page, "{center: [10.37, 47.69], zoom: 9.4}")  # with the Austrian border
            page.wait_for(READY, timeout=60)
            size = page.evaluate("[innerWidth, innerHeight]")
            whole = {"x": 0, "y": 0, "width": size[0], "height": size[1]}
            save_screenshot(page.screenshot(whole), folder / "web-map.png")
        # at a country's scale: coastlines and borders, from the package, without a network
        jump(page, "{center: [10, 47.8], zoom: 4.5}")
        page.wait_for(SETTLED, timeout=60)
        shot = page.screenshot(map_rect(page))
        assert colour_count(shot, BASEMAP["coastline"], 12) > 300
        assert colour_count(shot, BASEMAP["border"], 12) > 300
        assert colour_count(shot, BASEMAP["land"]) > 50_000
        outside = [
            u for u in requested_urls(page) if not u.startswith(("data:", "blob:", tiler_url))
        ]
        assert outside == []
        assert f"{tiler_url}/static/vendor/countries-50m.json" in requested_urls(page)
        assert page.console_errors() == []


def test_web_map_names_collections_and_moves_to_dates_with_data(
    tiler_url: str, tiler_data: TilerData, tmp_path: Path
):
    with open_page(tmp_path / "profile") as page:
        page.send("Page.navigate", {"url": f"{tiler_url}/viewer?start=2023-06-10&end=2023-06-10"})
        page.wait_for(SETTLED, timeout=60)
        names = text(page, "collection-list")
        assert "KappaCat cloud and cloud-shadow masks for Sentinel-2 Level-1C" in names
        assert "KappaCat cloud and cloud-shadow masks for Sentinel-2 Level-2A" in names
        clipped = page.evaluate(
            "[...document.querySelectorAll('.collection-title')]"
            ".filter(el => el.scrollWidth > el.clientWidth + 1).length"
        )
        assert clipped == 0  # no title is cut off
        # a date the user chose stays, with a plain word and a way to the nearest data
        assert "nearest date with masks is 2023-06-02" in text(page, "notice")
        assert "Show 2023-06-02" in text(page, "notice-go")

        change(page, pick_collection(L2A))  # a collection without masks
        assert "Nothing matches" in text(page, "notice")
        assert "Sentinel-2 Level-2A" in text(page, "notice")

        change(page, pick_collection(COLLECTION))  # back: the date moves to the nearest data
        assert page.evaluate("document.getElementById('start').value") == "2023-06-02"
        assert "Moved to 2023-06-02" in text(page, "status")
        assert text(page, "notice") == ""
        page.wait_for(READY, timeout=60)
        counts = legend_pixel_counts(page.screenshot(map_rect(page)))
        assert sum(n > 300 for n in counts.values()) >= 3, counts

        # a cloud filter nothing passes says so, and hides the masks
        change(page, set_value("maxcloud", "0"))
        assert "Nothing matches" in text(page, "notice")
        assert "cloud cover at most 0 %" in text(page, "notice")
        layer = page.evaluate("window.kappacatMap.getLayoutProperty('masks', 'visibility')")
        assert layer == "none"
        # a filter only the other June product passes moves the date to it
        covers = {k: tiler_data.items[k]["properties"]["eo:cloud_cover"] for k in ("a", "b")}
        if covers["a"] != covers["b"]:
            keep = min(covers, key=lambda k: covers[k])
            day = tiler_data.items[keep]["properties"]["datetime"][:10]
            change(page, set_value("start", "2023-06-01" if keep == "b" else "2023-06-02"))
            change(page, set_value("end", page.evaluate("document.getElementById('start').value")))
            change(page, set_value("maxcloud", f"{covers[keep]}"))
            assert page.evaluate("document.getElementById('start').value") == day
        assert page.console_errors() == []


def test_web_map_point_answers_never_go_stale(tiler_url: str, tmp_path: Path):
    with open_page(tmp_path / "profile") as page:
        page.send("Page.navigate", {"url": f"{tiler_url}/viewer{JUNE_VIEW}"})
        page.wait_for(READY, timeout=60)
        rect = map_rect(page)
        centre = (rect["x"] + rect["width"] * 0.6, rect["y"] + rect["height"] / 2)

        def ask() -> None:
            page.click(*centre)
            page.wait_for("!document.getElementById('info').hidden", timeout=30)
            assert any(cls.title in text(page, "info-body") for cls in LEGEND if cls.value)

        ask()
        change(page, set_value("end", "2023-06-01"))  # other dates: the answer is gone
        assert page.evaluate("document.getElementById('info').hidden") is True
        ask()
        page.drag(centre, (centre[0] - 120, centre[1] - 40))  # the user moves the map
        page.wait_for(SETTLED, timeout=60)
        assert page.evaluate("document.getElementById('info').hidden") is True
        ask()
        change(page, pick_collection(L2A))  # another collection
        assert page.evaluate("document.getElementById('info').hidden") is True
        assert page.console_errors() == []


def test_web_map_shows_the_class_shares_under_the_cursor(
    tiler_url: str, tiler_data: TilerData, tmp_path: Path
):
    with open_page(tmp_path / "profile") as page:
        page.send("Page.navigate", {"url": f"{tiler_url}/viewer{JUNE_VIEW}"})
        page.wait_for(READY, timeout=60)
        rect = map_rect(page)
        # b (2 June, newest first: on top) covers the right half of the view
        page.move_mouse(rect["x"] + rect["width"] * 0.6, rect["y"] + rect["height"] / 2)
        page.wait_for("!document.getElementById('hover').hidden", timeout=30)
        shown = text(page, "hover")
        props = tiler_data.items["b"]["properties"]
        assert tiler_data.item_id("b") in shown
        for cls in LEGEND:
            if cls.value:
                share = props[f"kappacat:{cls.name}_percentage"]
                assert f"{cls.title} {share:.1f} %" in shown, (cls.name, shown)
        page.move_mouse(rect["x"] - 40, rect["y"] + 200)  # off the map, over the panel
        page.wait_for("document.getElementById('hover').hidden", timeout=30)


def test_web_map_fits_a_phone(tiler_url: str, tmp_path: Path):
    with open_page(tmp_path / "profile") as page:
        page.set_viewport(400, 800, mobile=True)
        page.send("Page.navigate", {"url": f"{tiler_url}/viewer{JUNE_VIEW}"})
        page.wait_for(READY, timeout=60)
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
        )
        assert widths[2] == 400 and max(widths[:2]) <= 400, widths  # no sideways scrolling
        rect = map_rect(page)
        assert rect["width"] >= 390 and rect["height"] >= 300, rect
        # every control can be scrolled to and is the thing under a tap at its centre
        ids = ["start", "end", "order", "maxcloud", "legend-box"]
        hits = page.evaluate(
            "(() => { const out = {}; const ids = " + json.dumps(ids) + ";"
            " const els = [...ids.map(id => document.getElementById(id)),"
            "  ...document.querySelectorAll('input[name=collection]')];"
            " for (const el of els) { el.scrollIntoView({block: 'center'});"
            "  const r = el.getBoundingClientRect();"
            "  const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);"
            "  out[el.id || el.value] = r.width > 0 && r.left >= 0 && r.right <= 400"
            "   && (hit === el || el.contains(hit) || hit.contains(el) || hit.htmlFor === el.id"
            "       || (hit.closest('label') && hit.closest('label').contains(el))); }"
            " return out; })()"
        )
        assert all(hits.values()) and len(hits) == len(ids) + 2, hits
        assert legend_pixel_counts(page.screenshot(map_rect(page)))["clear"] > 300
        assert page.console_errors() == []


def test_viewer_dates_and_footprints_answer_the_page(client: TestClient, tiler_data: TilerData):
    dates = f"/viewer/collections/{COLLECTION}/dates.json"
    answer = client.get(dates, params={"datetime": "2023-06-10/2023-06-12"}).json()
    assert answer["inside"] is False
    assert answer["before"].startswith("2023-06-02")  # b, the newest June item
    assert answer["after"].startswith("2023-07-01")
    june = client.get(dates, params={"datetime": "2023-06-01/2023-06-30"}).json()
    assert june["inside"] is True
    nothing = client.get(dates, params={"datetime": JUNE, "filter": "eo:cloud_cover<0"}).json()
    assert nothing == {**nothing, "inside": False, "before": None, "after": None}

    footprints = client.get(
        f"/viewer/collections/{COLLECTION}/footprints.json", params={"datetime": JUNE}
    ).json()
    ids = [f["properties"]["id"] for f in footprints["features"]]
    assert ids == [tiler_data.item_id("b"), tiler_data.item_id("a")]  # newest first: on top
    shares = footprints["features"][0]["properties"]
    assert (
        shares["kappacat:clear_percentage"]
        == (tiler_data.items["b"]["properties"]["kappacat:clear_percentage"])
    )
    assert footprints["features"][0]["geometry"] == tiler_data.items["b"]["geometry"]

    for path, params, status, words in [
        (dates, {}, 400, "datetime is required"),
        (dates, {"datetime": "2023-06-01/..", "filter": ""}, 400, "open"),
        (dates, {"datetime": JUNE, "filter": "eo:cloud_cover <<< 3"}, 400, "not valid cql2-text"),
        ("/viewer/collections/nope/dates.json", {"datetime": JUNE}, 404, "'nope' not found"),
    ]:
        response = client.get(path, params=params)
        assert response.status_code == status, response.text
        assert words in response.json()["detail"]


ONLINE = "#e0a040"
"""The colour of every tile of the stand-in online basemap (in no legend or basemap colour)."""


class _TileHandler(BaseHTTPRequestHandler):
    """An XYZ server whose every tile is one colour: a stand-in for an online basemap."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        hexa = ONLINE.lstrip("#")
        colour = tuple(int(hexa[i : i + 2], 16) for i in (0, 2, 4))
        buffer = io.BytesIO()
        Image.new("RGB", (256, 256), colour).save(buffer, format="PNG")
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(buffer.getvalue())


def test_web_map_online_basemap_is_a_switch(tiler_data: TilerData, tmp_path: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TileHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    basemap = f"http://127.0.0.1:{server.server_address[1]}/{{z}}/{{x}}/{{y}}.png"
    env = {
        "KAPPACAT_DATABASE_URL": tiler_data.database.url,
        "KAPPACAT_DATABASE_READ_URL": tiler_data.database.reader_url,
        "KAPPACAT_TILER_STORAGE_ROOTS": str(tiler_data.root),
        "KAPPACAT_TILER_BASEMAP_URL": basemap,
    }
    try:
        with serve("tiler", env, "/healthz") as url, open_page(tmp_path / "profile") as page:
            page.send("Page.navigate", {"url": f"{url}/viewer{JUNE_VIEW}"})
            page.wait_for(READY, timeout=60)
            assert text(page, "online-switch").strip() == "Online basemap"
            jump(page, "{zoom: window.kappacatMap.getZoom() - 1.5}")
            page.wait_for(READY, timeout=60)
            shot = page.screenshot(map_rect(page))
            assert colour_count(shot, ONLINE) > 5000  # the online basemap, under the masks
            assert sum(n > 300 for n in legend_pixel_counts(shot).values()) >= 4
            page.evaluate(
                "(() => { document.documentElement.dataset.mapIdle = '';"
                " const box = document.getElementById('online'); box.click(); })()"
            )
            page.wait_for(SETTLED, timeout=60)
            shot = page.screenshot(map_rect(page))
            assert colour_count(shot, ONLINE) == 0  # switched off: the offline basemap
            assert colour_count(shot, BASEMAP["land"]) > 5000
            assert page.console_errors() == []
    finally:
        server.shutdown()
        server.server_close()

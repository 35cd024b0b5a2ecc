"""STAC Browser, built from npm as pinned in ``tests/clients/stac-browser``, browses a running
KappaCat catalogue (``kappacat serve api`` and ``kappacat serve tiler`` over real masks) in a real
headless Chromium with the network cut, and draws an item's mask in the legend colours through
the item's web-map links (its GeoTIFF decoder cannot read the ZSTD mask COGs).

``SCREENSHOTS_DIR=docs .venv/bin/pytest tests/clients/test_stac_browser.py`` also writes the
README's screenshot of the item page (``docs/stac-browser-item.png``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from catalog.legend import LEGEND
from tests.servers import serve
from tests.tiler.browser import Page, chromium_path, open_page, requested_urls, save_screenshot
from tests.tiler.conftest import COLLECTION, TilerData
from tests.tiler.pixels import open_rgba

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build-stac-browser.sh"
DIST = HERE / "stac-browser" / "dist"


@pytest.fixture(scope="module")
def stac_browser() -> Path:
    """STAC Browser's built files (built now if the lock changed since the last build)."""
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: STAC Browser is built from npm (apt-get install npm)")
    if chromium_path() is None:
        pytest.fail("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    done = subprocess.run(["sh", str(BUILD)], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        pytest.fail(f"{BUILD} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return DIST


class _Handler(SimpleHTTPRequestHandler):
    """STAC Browser's files, with the runtime configuration that names the catalogue."""

    config: ClassVar[dict[str, Any]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0].split("#")[0]
        if path in ("/", "/index.html"):
            html = (Path(self.directory) / "index.html").read_text()
            script = '<script src="config.js"></script>'
            self._send(html.replace("<head>", "<head>" + script, 1), "text/html")
        elif path == "/config.js":
            body = f"window.STAC_BROWSER_CONFIG = {json.dumps(self.config)};"
            self._send(body, "text/javascript")
        else:
            super().do_GET()

    def _send(self, text: str, media_type: str) -> None:
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", f"{media_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def static_server(directory: Path, config: dict[str, Any]) -> Iterator[str]:
    """Serve ``directory`` on a free loopback port with STAC Browser's runtime ``config``."""
    handler = type("Handler", (_Handler,), {"config": config})
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def catalogue(tiler_data: TilerData) -> Iterator[tuple[str, str]]:
    """The STAC API and the tiler as real processes; the API's items link to this tiler."""
    tiler_env = {
        "KAPPACAT_DATABASE_URL": tiler_data.database.url,
        "KAPPACAT_DATABASE_READ_URL": tiler_data.database.reader_url,
        "KAPPACAT_TILER_STORAGE_ROOTS": str(tiler_data.root),
    }
    with serve("tiler", tiler_env, "/healthz") as tiler_url:
        api_env = {
            "KAPPACAT_DATABASE_URL": tiler_data.database.url,
            "KAPPACAT_API_TILER_URL": tiler_url,
        }
        with serve("api", api_env, "/_mgmt/health") as api_url:
            yield api_url, tiler_url


def legend_colours_shown(png: bytes, least: int = 200) -> list[str]:
    """The legend classes with at least ``least`` pixels of their exact colour (within 2)."""
    rgb = open_rgba(png)[:3].astype(int)
    shown = []
    for cls in LEGEND:
        if cls.color:
            hexa = cls.color.lstrip("#")
            wanted = [[[int(hexa[i : i + 2], 16)]] for i in (0, 2, 4)]
            if int((abs(rgb - wanted) <= 2).all(axis=0).sum()) >= least:
                shown.append(cls.name)
    return shown


COLOURED = {cls.name for cls in LEGEND if cls.color and cls.color != "#ffffff"}
"""Legend classes whose colour cannot be mistaken for the page around the map."""


def map_rect(page: Page) -> dict[str, float]:
    """Where STAC Browser's map (OpenLayers' viewport) is on the page."""
    rect = page.evaluate(
        "(() => { const r = document.querySelector('.ol-viewport').getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height}; })()"
    )
    return {k: float(v) for k, v in rect.items()}


def whole_page(page: Page) -> bytes:
    size = page.evaluate("[innerWidth, innerHeight]")
    return page.screenshot({"x": 0, "y": 0, "width": size[0], "height": size[1]})


def test_stac_browser_draws_the_mask_of_an_item(
    stac_browser: Path, catalogue: tuple[str, str], tiler_data: TilerData, tmp_path: Path
):
    api_url, tiler_url = catalogue
    item_id = tiler_data.item_id("a")
    config = {"catalogUrl": api_url + "/", "catalogTitle": "KappaCat", "locale": "en"}
    with (
        static_server(stac_browser, config) as browser_url,
        open_page(tmp_path / "profile", offline=True) as page,
    ):
        page.send(
            "Page.navigate",
            {"url": f"{browser_url}/index.html#/collections/{COLLECTION}/items/{item_id}"},
        )
        # the item page: its title, then the mask drawn on its map
        page.wait_for(f"document.body && document.body.innerText.includes('{item_id}')", 90)
        page.wait_for("!!document.querySelector('.ol-viewport')", 90)
        deadline = time.monotonic() + 90
        shown: list[str] = []
        while time.monotonic() < deadline:
            shown = legend_colours_shown(page.screenshot(map_rect(page)))
            if len(COLOURED & set(shown)) >= 3:
                break
            time.sleep(1)
        tiles = [u for u in requested_urls(page) if u.startswith(tiler_url)]
        # the classes in their own colours inside the item's map (not the page's white)
        assert len(COLOURED & set(shown)) >= 3, (shown, tiles, page.console_errors())
        assert any(f"/collections/{COLLECTION}/items/{item_id}/tiles/" in u for u in tiles), tiles
        if folder := os.environ.get("SCREENSHOTS_DIR"):
            save_screenshot(whole_page(page), Path(folder) / "stac-browser-item.png")

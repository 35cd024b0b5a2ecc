"""The API docs pages of both services render in a real browser with the network cut."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.settings import DatabaseSettings
from tests.servers import serve
from tests.tiler.browser import chromium_path, open_page, requested_urls

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICES = [("api", "/_mgmt/health", "/search"), ("tiler", "/healthz", "/legend")]


@pytest.mark.parametrize(("component", "health", "operation"), SERVICES)
def test_api_docs_page_renders_offline(
    component: str, health: str, operation: str, database: DatabaseSettings, tmp_path: Path
) -> None:
    if chromium_path() is None:
        pytest.fail("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    env = {"KAPPACAT_DATABASE_URL": database.url, "KAPPACAT_STORAGE_URL": str(tmp_path / "s")}
    with serve(component, env, health) as base, open_page(tmp_path / "profile", True) as page:
        page.send("Page.navigate", {"url": f"{base}/api.html"})
        # Swagger UI loaded, read the OpenAPI document and drew an entry per operation.
        page.wait_for("document.querySelectorAll('.opblock').length > 3", timeout=60)
        paths = page.evaluate(
            "[...document.querySelectorAll('.opblock-summary-path')].map(e => e.innerText)"
        )
        assert any(p.replace("\u200b", "") == operation for p in paths), paths
        requested = requested_urls(page)
        assert f"{base}/api" in requested, requested  # the OpenAPI document, from the service
        outside = [u for u in requested if not u.startswith((base, "data:"))]
        assert outside == []
        assert page.console_errors() == []

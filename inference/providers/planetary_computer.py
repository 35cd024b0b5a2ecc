"""Microsoft Planetary Computer ``sentinel-2-l2a``.

COGs of ESA's values, not harmonised (microsoft/PlanetaryComputer#134), with no raster
metadata at all: the offset follows from ``s2:processing_baseline``. Platforms are spelled
"Sentinel-2A" and the constellation "Sentinel 2"; asset hrefs in Azure Blob Storage need a
SAS token, which the ``planetary-computer`` package fetches and appends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pystac

from inference.conventions import baseline_offset_dn
from inference.errors import RETRYABLE_HTTP, ProductError, SourceUnavailableError
from inference.providers.base import (
    OffsetRule,
    Probe,
    Profile,
    baseline_rule,
    hrefs_under,
    links_to,
)

if TYPE_CHECKING:
    from inference.settings import SourceSettings

HOST = "planetarycomputer.microsoft.com"
BLOB_DOMAIN = ".blob.core.windows.net"


class PlanetaryComputer(Profile):
    """Planetary Computer ``sentinel-2-l2a``: offset from the baseline, hrefs signed."""

    name = "planetary-computer"
    title = "Planetary Computer sentinel-2-l2a"

    def match(self, item: pystac.Item) -> str | None:
        if links_to(item, HOST):
            return f"links to {HOST}"
        if hrefs_under(item, "https://sentinel2l2a01" + BLOB_DOMAIN):
            return "assets in the sentinel2l2a01 blob storage account"
        return None

    def offset_rule(self, item: pystac.Item, probe: Probe) -> OffsetRule:
        baseline = self.baseline(item)
        reason = f"not harmonised, no raster metadata (#134): {baseline_rule(baseline)}"
        return OffsetRule(baseline_offset_dn(baseline), reason)

    def sign(self, href: str, settings: SourceSettings) -> str:
        """Blob storage hrefs with a SAS token appended; any other href as it is."""
        if not settings.planetary_computer_sign or not urlsplit(href).netloc.endswith(BLOB_DOMAIN):
            return href
        import planetary_computer  # brings requests; only needed for blob hrefs
        import requests

        try:
            return str(planetary_computer.sign_url(href))
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            problem = f"the SAS token service answered HTTP {status}"
            if status >= 500 or status in RETRYABLE_HTTP:
                raise SourceUnavailableError(href, problem) from exc
            raise ProductError(href, problem) from exc
        except requests.RequestException as exc:
            raise SourceUnavailableError(href, f"cannot get a SAS token to read it: {exc}") from exc

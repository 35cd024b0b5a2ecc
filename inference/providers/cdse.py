"""Copernicus Data Space Ecosystem (CDSE) STAC, ``sentinel-2-l2a`` and ``sentinel-2-l1c``.

STAC 1.1 items of ESA's own JPEG 2000 files under ``s3://eodata/...``: one asset per band and
resolution (``B04_10m``, ``B04_20m``, ``B04_60m``), ``raster:scale`` / ``raster:offset`` on the
asset itself (also, wrongly, on AOT and WVP, which are not read), the baseline in
``processing:version``, the level in ``product:type`` ("S2MSI2A"; ``processing:level`` only
says "L2"). The S3 endpoint and credentials come from :class:`~inference.settings.SourceSettings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pystac

from inference.conventions import baseline_offset_dn
from inference.providers.base import (
    OffsetRule,
    Probe,
    Profile,
    S3Credentials,
    hrefs_under,
    links_to,
)

if TYPE_CHECKING:
    from inference.settings import SourceSettings

HOSTS = ("stac.dataspace.copernicus.eu", "catalogue.dataspace.copernicus.eu")
_NOT_REFLECTANCE = ("AOT_", "WVP_", "TCI_")


class CopernicusDataSpace(Profile):
    """CDSE STAC: per-resolution JPEG 2000 assets with their own scale and offset, on S3."""

    name = "cdse"
    title = "Copernicus Data Space STAC"

    def match(self, item: pystac.Item) -> str | None:
        if links_to(item, *HOSTS):
            return "links to the Copernicus Data Space STAC"
        if hrefs_under(item, "s3://eodata/"):
            return "assets under s3://eodata/"
        return None

    def wanted(self, key: str, asset: pystac.Asset) -> bool:
        return not key.startswith(_NOT_REFLECTANCE) and super().wanted(key, asset)

    def offset_rule(self, item: pystac.Item, probe: Probe) -> OffsetRule:
        fallback = baseline_offset_dn(self.baseline(item))
        reason = "ESA's values with raster:scale / raster:offset per asset"
        return OffsetRule(None, reason, fallback)

    def gdal_options(self, settings: SourceSettings) -> dict[str, str]:
        options = {
            "AWS_S3_ENDPOINT": settings.cdse_s3_endpoint,
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_HTTPS": "YES" if settings.cdse_s3_https else "NO",
        }
        if self.gdal_session(settings) is None:
            options["AWS_NO_SIGN_REQUEST"] = "YES"
        return options

    def gdal_session(self, settings: SourceSettings) -> S3Credentials | None:
        if settings.cdse_s3_access_key and settings.cdse_s3_secret_key:
            secret = settings.cdse_s3_secret_key.get_secret_value()
            return S3Credentials(settings.cdse_s3_access_key, secret)
        return None

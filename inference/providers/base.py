"""What a provider profile is: how one provider's STAC items of Sentinel-2 products are read.

A :class:`Profile` knows everything that differs between providers: which items are its own,
where the level, baseline and platform are written, which assets hold the bands, how their
digital numbers become reflectance (the radiometric offset exactly once), how hrefs are signed
and which GDAL configuration (credentials, requester pays) reading them needs. Readers ask the
profile and never test for a provider themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pystac
from rasterio.session import Session

from inference.bands import BANDS_BY_ID, SCL, SCL_RESOLUTION, band_id, resolution_suffix
from inference.conventions import (
    QUANTIFICATION,
    baseline_offset_dn,
    has_radiometric_offset,
    platform_name,
    product_level,
)

if TYPE_CHECKING:
    from inference.settings import SourceSettings

Probe = Callable[[str], "np.ndarray | None"]
"""Reads an asset's DNs at its coarsest overview (by asset key), for checks on the data."""
_SCL_KEY = re.compile(r"^scl(_\d+m)?$", re.IGNORECASE)


@dataclass(frozen=True)
class OffsetRule:
    """What a profile decided about an item's radiometric offset, and why (for the log).

    ``dn_offset`` is one additive DN offset for every band; None means each asset's own
    scale and offset (STAC raster metadata) are right and used, and ``fallback_dn`` is the
    offset of an asset that states none.
    """

    dn_offset: float | None
    reason: str
    fallback_dn: float = 0.0


@dataclass(frozen=True)
class BandAsset:
    """One asset holding a band (or the SCL): reflectance = (DN + dn_offset) * scale."""

    key: str
    band: str
    href: str
    resolution: float
    scale: float
    dn_offset: float
    nodata: float | None
    from_key: bool  # the asset key named the band (rather than its eo:bands / bands)


class AssetMetadataError(ValueError):
    """An asset's metadata is malformed (a string where a list of objects belongs...)."""

    def __init__(self, key: str, problem: object) -> None:
        self.key = key
        super().__init__(f"malformed metadata of asset {key!r}: {problem}")


def raster_fields(key: str, asset: pystac.Asset) -> tuple[Any, Any, Any]:
    """(scale, offset, nodata) of an asset's first band: raster:bands (STAC 1.0), bands (1.1)
    or fields on the asset itself (CDSE's raster:scale / raster:offset); None where absent.

    Raises :class:`AssetMetadataError` naming the asset when the fields are not as specified.
    """
    fields = asset.extra_fields
    bands = fields.get("raster:bands") or fields.get("bands") or [{}]
    if not isinstance(bands, list) or not all(isinstance(b, dict) for b in bands):
        raise AssetMetadataError(key, "raster:bands / bands is not a list of objects")
    first: dict[str, Any] = bands[0] if bands else {}
    scale = first.get("scale", first.get("raster:scale", fields.get("raster:scale")))
    offset = first.get("offset", first.get("raster:offset", fields.get("raster:offset")))
    nodata = first.get("nodata", fields.get("nodata", 0))
    return scale, offset, nodata


def stated_offsets(item: pystac.Item) -> dict[str, tuple[Any, Any]]:
    """(scale, offset) of every asset that states an offset, by asset key."""
    out = {}
    for key, asset in item.assets.items():
        scale, offset, _ = raster_fields(key, asset)
        if offset is not None:
            out[key] = (scale, offset)
    return out


class Profile:
    """The conventions of one provider. Subclasses override what their provider does its way."""

    name: ClassVar[str] = "generic"
    title: ClassVar[str] = "a STAC item of a Sentinel-2 product"

    def match(self, item: pystac.Item) -> str | None:
        """Why this profile reads ``item`` (a reason for the log), or None if it does not."""
        return None

    # -- what the product is ---------------------------------------------------------------------

    def level(self, item: pystac.Item) -> str | None:
        """The level, "L1C" or "L2A", or None when the item does not say."""
        props = item.properties
        product_type = props.get("s2:product_type") or props.get("product:type")
        hints = (props.get("processing:level"), item.collection_id, item.id)
        return product_level(product_type, *hints)

    def baseline(self, item: pystac.Item) -> str:
        """The processing baseline ("05.09"), or "" when the item does not say."""
        props = item.properties
        return str(props.get("s2:processing_baseline") or props.get("processing:version") or "")

    def platform(self, item: pystac.Item) -> str:
        """The platform as STAC spells it ("sentinel-2a")."""
        props = item.properties
        return (
            platform_name(props.get("platform"))
            or platform_name(props.get("constellation"))
            or "sentinel-2"
        )

    # -- how its bands are read ------------------------------------------------------------------

    def offset_rule(self, item: pystac.Item, probe: Probe) -> OffsetRule:
        """The radiometric offset of the item's band DNs.

        By default the assets' own raster metadata decide when they state an offset, else the
        baseline: ESA's values carry -1000 from baseline 04.00 on.
        """
        baseline = self.baseline(item)
        offset = baseline_offset_dn(baseline)
        if stated_offsets(item):
            return OffsetRule(None, "each band asset states its scale and offset", offset)
        return OffsetRule(offset, f"no offsets stated: {baseline_rule(baseline)}")

    def wanted(self, key: str, asset: pystac.Asset) -> bool:
        """Whether an asset may hold a band to read: one band, not a preview, JSON or XML."""
        media = asset.media_type or ""
        fields = asset.extra_fields
        bands = fields.get("eo:bands") or fields.get("bands") or []
        roles = set(asset.roles or [])
        one_band = not isinstance(bands, list) or len(bands) <= 1
        return (
            one_band
            and not roles & {"visual", "overview", "thumbnail"}
            and "json" not in media
            and "xml" not in media
        )

    def band_assets(self, item: pystac.Item, rule: OffsetRule) -> Iterator[BandAsset]:
        """Every asset holding a band or the SCL, with its radiometry under ``rule``."""
        for key, asset in item.assets.items():
            if not self.wanted(key, asset):
                continue
            found = self._band_of(key, asset)
            if found is None:
                continue
            band, from_key = found
            try:
                yield self._band_asset(key, asset, band, from_key, rule)
            except AssetMetadataError:
                raise
            except (TypeError, ValueError, KeyError) as exc:  # "gsd": "ten", bands of strings...
                raise AssetMetadataError(key, exc) from exc

    def _band_of(self, key: str, asset: pystac.Asset) -> tuple[str, bool] | None:
        if _SCL_KEY.match(key):
            return SCL, True
        found = band_id(key)
        if found:
            return found, True
        fields = asset.extra_fields
        for band in fields.get("eo:bands") or fields.get("bands") or []:
            if not isinstance(band, dict):
                continue
            names = (band.get("name"), band.get("common_name"), band.get("eo:common_name"))
            for name in names:
                if name and (found := band_id(str(name))):
                    return found, False
        return None

    def _band_asset(
        self, key: str, asset: pystac.Asset, band: str, from_key: bool, rule: OffsetRule
    ) -> BandAsset:
        scale, offset, nodata = raster_fields(key, asset)
        fields = asset.extra_fields
        first = (fields.get("raster:bands") or [{}])[0] or {}
        if band == SCL:
            res = resolution_suffix(key) or fields.get("gsd") or SCL_RESOLUTION
            scale_value, dn_offset = 1.0, 0.0
        else:
            res = resolution_suffix(key) or fields.get("gsd") or first.get("spatial_resolution")
            res = res or BANDS_BY_ID[band].resolution
            scale_value = float(scale) if scale is not None else 1.0 / QUANTIFICATION
            if rule.dn_offset is not None:
                dn_offset = rule.dn_offset
            elif offset is not None:
                dn_offset = round(float(offset) / scale_value, 6)  # STAC states it in reflectance
            else:
                dn_offset = rule.fallback_dn
        return BandAsset(
            key=key,
            band=band,
            href=asset.get_absolute_href() or asset.href,
            resolution=float(res),
            scale=scale_value,
            dn_offset=dn_offset,
            nodata=float(nodata) if nodata is not None else None,
            from_key=from_key,
        )

    # -- how its files are reached ---------------------------------------------------------------

    def sign(self, href: str, settings: SourceSettings) -> str:
        """The href to read (signed where the provider wants it; default: unchanged)."""
        return href

    def gdal_options(self, settings: SourceSettings) -> dict[str, str]:
        """GDAL configuration reading this provider's files needs (endpoint, requester pays)."""
        return {}

    def gdal_session(self, settings: SourceSettings) -> Session | None:
        """The credentials reading this provider's files needs, as a rasterio session."""
        return None


class S3Credentials(Session):
    """Static S3 credentials for GDAL, through rasterio's session seam.

    rasterio refuses credentials among plain configuration options and builds its own AWS
    session with boto3; a key pair from the settings needs neither.
    """

    def __init__(self, access_key: str, secret_key: str) -> None:
        self._creds = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}

    @classmethod
    def hascreds(cls, config: dict[str, Any]) -> bool:
        """Whether GDAL's configuration already holds a key pair."""
        return "AWS_ACCESS_KEY_ID" in config and "AWS_SECRET_ACCESS_KEY" in config

    @property
    def credentials(self) -> dict[str, str]:
        """The key pair."""
        return dict(self._creds)

    def get_credential_options(self) -> dict[str, str]:
        """The key pair as GDAL configuration options."""
        return {key.upper(): value for key, value in self._creds.items()}


def baseline_rule(baseline: str) -> str:
    """ESA's offset of a baseline, said in words for the log."""
    known = has_radiometric_offset(baseline)
    if known is None:
        return f"baseline {baseline or '(none)'} unknown, so 0 DN"
    if known:
        return f"{baseline_offset_dn(baseline):g} DN, as ESA's values carry from baseline 04.00 on"
    return f"0 DN, as before baseline 04.00 ({baseline})"


def links_to(item: pystac.Item, *hosts: str) -> bool:
    """Whether a link of the item (self, root, collection...) points to one of ``hosts``."""
    targets = [str(link.get_target_str() or "") for link in item.links]  # never resolved
    return any(f"//{host}" in target for target in targets for host in hosts)


def hrefs_under(item: pystac.Item, *prefixes: str) -> bool:
    """Whether an asset href of the item starts with one of ``prefixes``."""
    return any(str(a.href).startswith(prefixes) for a in item.assets.values())


def prefixed_properties(item: pystac.Item, prefix: str) -> bool:
    """Whether the item has a property in a provider's own namespace (``earthsearch:``)."""
    return any(key.startswith(prefix) for key in item.properties)

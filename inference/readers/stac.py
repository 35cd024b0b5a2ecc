"""STAC items of Sentinel-2 products whose assets are per-band COG or JPEG 2000 files.

Which assets hold which band, and how their values become reflectance, is decided by the
item's provider profile (:mod:`inference.providers`). Assets may be local files, HTTP(S) URLs
or S3 objects (read through GDAL's /vsicurl/ and /vsis3/).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pystac
import rasterio
from rasterio.session import Session

from inference.bands import SCL
from inference.conventions import is_sentinel2
from inference.errors import ProductError, http_status, read_failure
from inference.footprint import Footprint
from inference.grid import Grid
from inference.product import ProductInfo
from inference.providers import AssetMetadataError, OffsetRule, choose_profile
from inference.readers.base import READ_ERRORS, BandFile, ProductReader, gdal_options
from inference.settings import SourceSettings

log = logging.getLogger(__name__)
METADATA_ERRORS = (AttributeError, KeyError, TypeError, ValueError, IndexError)
"""What malformed item metadata raises on the way in (a string where a list belongs...)."""
_PROBE_PIXELS = 1024  # the longest side a probe of an asset's values reads


def gdal_href(href: str) -> str:
    """The GDAL path of an asset href (local path, http(s)://, s3://, gs://)."""
    if href.startswith(("http://", "https://")):
        return "/vsicurl/" + href
    if href.startswith("s3://"):
        return "/vsis3/" + href[len("s3://") :]
    if href.startswith("gs://"):
        return "/vsigs/" + href[len("gs://") :]
    if href.startswith("file://"):
        return href[len("file://") :]
    return href


def _is_sentinel2(item: pystac.Item) -> bool:
    props = item.properties
    return is_sentinel2(props.get("platform"), props.get("constellation")) or any(
        key.startswith("s2:") for key in props
    )


class StacReader(ProductReader):
    """Reads a Sentinel-2 product described by a STAC item (file path or URL).

    How the item's metadata is read (level, baseline, band assets, offsets, signing,
    credentials) is its provider profile's business (:mod:`inference.providers`); the
    profile chosen and its offset decision are logged and kept in ``info.extra``.
    """

    def __init__(self, source: str, sources: SourceSettings | None = None) -> None:
        try:
            item = pystac.Item.from_file(source)
        except Exception as exc:  # pystac raises a bare Exception for HTTP errors
            status = http_status(exc)
            detail = f"HTTP {status}" if status is not None else str(exc) or type(exc).__name__
            raise read_failure(source, f"cannot read the STAC item: {detail}", exc) from exc
        self.item = item
        self.source = source
        self.name = item.id
        self.sources = sources or SourceSettings()
        self.profile, why = choose_profile(item)
        if not _is_sentinel2(item):
            platform = item.properties.get("platform") or item.properties.get("constellation")
            raise ProductError(
                item.id, f"not a Sentinel-2 STAC item (platform {platform or 'unknown'})"
            )
        level = self.profile.level(item)
        if level is None:
            raise ProductError(item.id, "unknown product type: neither L1C nor L2A")
        if item.geometry is None:
            raise ProductError(item.id, "the STAC item has no geometry (footprint)")
        self.level = level
        try:
            self.footprint = Footprint.from_geojson(item.geometry)
        except METADATA_ERRORS as exc:
            raise ProductError(item.id, f"the item's geometry is not a polygon: {exc}") from exc
        self._gdal = {**gdal_options(), **self.profile.gdal_options(self.sources)}
        try:
            self.rule = self.profile.offset_rule(item, self._probe)
            self.files = self._band_files(item, self.rule)
        except AssetMetadataError as exc:
            raise ProductError(item.id, str(exc)) from exc
        log.info(
            "%s: read as %s (%s); offset: %s", item.id, self.profile.title, why, self.rule.reason
        )
        self.grid = self._grid()
        try:
            self.info = self._info(item)
        except METADATA_ERRORS as exc:
            raise ProductError(item.id, f"malformed STAC item properties: {exc}") from exc
        if not self.footprint_mask().overlaps_grid():
            raise self.fail("the product lies entirely outside its footprint (no valid area)")

    @property
    def baseline(self) -> str:
        """The processing baseline ("05.09"), or "" when the item does not say."""
        return self.profile.baseline(self.item)

    def gdal_env(self) -> dict[str, str]:
        return self._gdal

    def gdal_session(self) -> Session | None:
        return self.profile.gdal_session(self.sources)

    def _href(self, href: str) -> str:
        return gdal_href(self.profile.sign(href, self.sources))

    def _probe(self, key: str) -> np.ndarray | None:
        """An asset's DNs at its coarsest overview (None if the item has no such asset)."""
        asset = self.item.assets.get(key)
        if asset is None:
            return None
        path = self._href(asset.get_absolute_href() or asset.href)
        try:
            with self.env(), rasterio.open(path) as ds:
                factor = max([1, *ds.overviews(1)])
                factor = max(factor, math.ceil(max(ds.width, ds.height) / _PROBE_PIXELS))
                shape = (math.ceil(ds.height / factor), math.ceil(ds.width / factor))
                return np.asarray(ds.read(1, out_shape=shape))
        except READ_ERRORS as exc:
            raise self.read_failed(f"cannot read asset {key} ({path}): {exc}", exc) from exc

    def _band_files(self, item: pystac.Item, rule: OffsetRule) -> dict[str, list[BandFile]]:
        by_key: dict[str, list[BandFile]] = {}
        by_eo: dict[str, list[BandFile]] = {}
        for asset in self.profile.band_assets(item, rule):
            file = BandFile(
                band=asset.band,
                path=self._href(asset.href),
                resolution=asset.resolution,
                scale=asset.scale,
                dn_offset=asset.dn_offset,
                nodata=asset.nodata,
            )
            (by_key if asset.from_key else by_eo).setdefault(file.band, []).append(file)
        for band, files in by_eo.items():
            by_key.setdefault(band, files)
        return by_key

    def _grid(self) -> Grid:
        candidates = [f for band, files in self.files.items() if band != SCL for f in files]
        if not candidates:
            raise self.fail("no Sentinel-2 band assets in the STAC item")
        ref = min(candidates, key=lambda f: (f.resolution, f.band))
        try:
            with self.env(), rasterio.open(ref.path) as ds:
                self.check_shape(ref, ds.width, ds.height, abs(ds.transform.a))
                grid = Grid.from_dataset(ds.crs, ds.transform, ds.width, ds.height)
        except READ_ERRORS as exc:
            problem = f"cannot open band {ref.band} ({ref.path}): {exc}"
            raise self.read_failed(problem, exc) from exc
        return grid if grid.res == 10.0 else grid.at(10.0)

    def _info(self, item: pystac.Item) -> ProductInfo:
        props = item.properties
        mgrs = str(props.get("s2:mgrs_tile") or props.get("grid:code", "")).removeprefix("MGRS-")
        if not mgrs and props.get("mgrs:utm_zone"):
            mgrs = "{}{}{}".format(
                props["mgrs:utm_zone"],
                props.get("mgrs:latitude_band", ""),
                props.get("mgrs:grid_square", ""),
            )
        epsg = props.get("proj:epsg") or str(props.get("proj:code", "")).removeprefix("EPSG:")
        elevation = props.get("view:sun_elevation")
        if elevation is None and props.get("s2:mean_solar_zenith") is not None:
            elevation = 90.0 - float(props["s2:mean_solar_zenith"])
        azimuth = props.get("view:sun_azimuth", props.get("s2:mean_solar_azimuth"))
        self_href = item.get_self_href() or self.source
        return ProductInfo(
            id=item.id,
            level=self.level,
            datetime=item.datetime or item.common_metadata.start_datetime,  # type: ignore[arg-type]
            footprint=self.footprint.geojson,
            bbox=self.footprint.bbox,
            platform=self.profile.platform(item),
            mgrs_tile=mgrs,
            relative_orbit=int(props.get("sat:relative_orbit", 0) or 0),
            processing_baseline=self.baseline,
            epsg=int(epsg) if epsg else (self.grid.crs.to_epsg() or 0),
            sun_azimuth=float(azimuth) if azimuth is not None else None,
            sun_elevation=float(elevation) if elevation is not None else None,
            href=self_href,
            source_item_href=self_href,
            extra={
                "collection": item.collection_id,
                "cloud_cover": props.get("eo:cloud_cover"),
                "format": "STAC",
                "provider": self.profile.name,
                "offset_rule": self.rule.reason,
            },
        )


def is_stac_source(source: str) -> bool:
    """Whether a source looks like a STAC item (a .json file or an http(s)/s3 URL)."""
    if source.startswith(("http://", "https://", "s3://")):
        return not source.lower().split("?", 1)[0].endswith(".zip")
    return Path(source).suffix.lower() in (".json", ".geojson")

"""STAC items of Sentinel-2 products whose assets are per-band COG or JPEG 2000 files.

Asset keys as Earth Search names them ("blue", "swir16") or as the Copernicus Data Space does
("B02_10m"), with ``eo:bands`` as a fallback. Assets may be local files, HTTP(S) URLs or S3
objects (read through GDAL's /vsicurl/ and /vsis3/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pystac
import rasterio

from inference.bands import BANDS_BY_ID, band_id, resolution_suffix
from inference.errors import ProductError, http_status, read_failure
from inference.footprint import Footprint
from inference.grid import Grid
from inference.product import ProductInfo
from inference.readers.base import READ_ERRORS, BandFile, ProductReader, gdal_options

_LEVELS = {"S2MSI1C": "L1C", "S2MSI2A": "L2A"}
METADATA_ERRORS = (AttributeError, KeyError, TypeError, ValueError, IndexError)
"""What malformed item metadata raises on the way in (a string where a list belongs...)."""


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


def _level(item: pystac.Item) -> str | None:
    props = item.properties
    product_type = str(props.get("s2:product_type", "")).upper()
    if product_type in _LEVELS:
        return _LEVELS[product_type]
    for text in (props.get("processing:level"), item.collection_id, item.id):
        value = str(text or "").upper()
        if "L1C" in value:
            return "L1C"
        if "L2A" in value:
            return "L2A"
    return None


def _is_sentinel2(item: pystac.Item) -> bool:
    props = item.properties
    platform = str(props.get("platform", "")).lower()
    constellation = str(props.get("constellation", "")).lower()
    return (
        platform.startswith("sentinel-2")
        or constellation == "sentinel-2"
        or any(key.startswith("s2:") for key in props)
    )


def _raster_scaling(asset: pystac.Asset) -> tuple[float | None, float | None, float | None]:
    """(scale, offset, nodata) of an asset's first band from raster:bands or STAC 1.1 bands."""
    fields = asset.extra_fields
    bands = fields.get("raster:bands") or fields.get("bands") or [{}]
    first: dict[str, Any] = bands[0] if bands else {}
    scale = first.get("scale", first.get("raster:scale", fields.get("raster:scale")))
    offset = first.get("offset", first.get("raster:offset", fields.get("raster:offset")))
    nodata = first.get("nodata", fields.get("nodata", 0))
    return scale, offset, nodata


def _asset_band(key: str, asset: pystac.Asset) -> tuple[str | None, bool]:
    """The band an asset holds, and whether its key (rather than eo:bands) said so."""
    found = band_id(key)
    if found:
        return found, True
    for band in asset.extra_fields.get("eo:bands") or asset.extra_fields.get("bands") or []:
        for name in (band.get("name"), band.get("common_name"), band.get("eo:common_name")):
            if name and (found := band_id(str(name))):
                return found, False
    return None, False


class StacReader(ProductReader):
    """Reads a Sentinel-2 product described by a STAC item (file path or URL)."""

    def __init__(self, source: str) -> None:
        try:
            item = pystac.Item.from_file(source)
        except Exception as exc:  # pystac raises a bare Exception for HTTP errors
            status = http_status(exc)
            detail = f"HTTP {status}" if status is not None else str(exc) or type(exc).__name__
            raise read_failure(source, f"cannot read the STAC item: {detail}", exc) from exc
        self.item = item
        self.source = source
        self.name = item.id
        if not _is_sentinel2(item):
            platform = item.properties.get("platform") or item.properties.get("constellation")
            raise ProductError(
                item.id, f"not a Sentinel-2 STAC item (platform {platform or 'unknown'})"
            )
        level = _level(item)
        if level is None:
            raise ProductError(item.id, "unknown product type: neither L1C nor L2A")
        if item.geometry is None:
            raise ProductError(item.id, "the STAC item has no geometry (footprint)")
        self.level = level
        try:
            self.footprint = Footprint.from_geojson(item.geometry)
        except METADATA_ERRORS as exc:
            raise ProductError(item.id, f"the item's geometry is not a polygon: {exc}") from exc
        self.files = self._band_files(item)
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
        props = self.item.properties
        return str(props.get("s2:processing_baseline") or props.get("processing:version") or "")

    def _band_files(self, item: pystac.Item) -> dict[str, list[BandFile]]:
        by_key: dict[str, list[BandFile]] = {}
        by_eo: dict[str, list[BandFile]] = {}
        offset_applied = bool(item.properties.get("earthsearch:boa_offset_applied"))
        default_offset = -0.1 if self.baseline >= "04.00" and not offset_applied else 0.0
        for key, asset in item.assets.items():
            try:
                found = self._band_file(key, asset, default_offset)
            except METADATA_ERRORS as exc:
                raise ProductError(item.id, f"malformed metadata of asset {key!r}: {exc}") from exc
            if found is not None:
                file, from_key = found
                (by_key if from_key else by_eo).setdefault(file.band, []).append(file)
        for band, files in by_eo.items():
            by_key.setdefault(band, files)
        return by_key

    @staticmethod
    def _band_file(
        key: str, asset: pystac.Asset, default_offset: float
    ) -> tuple[BandFile, bool] | None:
        """The band file of an asset, and whether its key named the band (None: not a band)."""
        band, from_key = _asset_band(key, asset)
        if band is None or (asset.media_type and "json" in asset.media_type):
            return None
        scale, offset, nodata = _raster_scaling(asset)
        res = resolution_suffix(key) or asset.extra_fields.get("gsd")
        bands = asset.extra_fields.get("raster:bands") or [{}]
        res = res or bands[0].get("spatial_resolution") or BANDS_BY_ID[band].resolution
        file = BandFile(
            band=band,
            path=gdal_href(asset.get_absolute_href() or asset.href),
            resolution=float(res),
            scale=float(scale) if scale is not None else 1e-4,
            offset=float(offset) if offset is not None else default_offset,
            nodata=float(nodata) if nodata is not None else None,
        )
        return file, from_key

    def _grid(self) -> Grid:
        candidates = [f for files in self.files.values() for f in files]
        if not candidates:
            raise self.fail("no Sentinel-2 band assets in the STAC item")
        ref = min(candidates, key=lambda f: (f.resolution, f.band))
        try:
            with rasterio.Env(**gdal_options()), rasterio.open(ref.path) as ds:
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
            platform=str(props.get("platform", "sentinel-2")).lower(),
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
            },
        )


def is_stac_source(source: str) -> bool:
    """Whether a source looks like a STAC item (a .json file or an http(s)/s3 URL)."""
    if source.startswith(("http://", "https://", "s3://")):
        return not source.lower().split("?", 1)[0].endswith(".zip")
    return Path(source).suffix.lower() in (".json", ".geojson")

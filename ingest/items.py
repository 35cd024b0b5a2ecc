"""Build the STAC item of a mask with pystac, following DESIGN.md's STAC conventions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pystac
import rasterio

from catalog import stac_ext
from catalog.collections import COLLECTION_FOR_LEVEL, legend_classes
from catalog.properties import CLOUD_COVER, SEMI_TRANSPARENT_RULE, class_share_properties
from inference.product import MaskResult

SOFTWARE = ("kappacat", "onnxruntime", "rasterio", "rio-cogeo", "pystac")


def _software() -> dict[str, str]:
    found = {}
    for name in SOFTWARE:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def file_checksum(path: Path) -> str:
    """The file's SHA-256 as a multihash hex string (``1220`` + digest), for ``file:checksum``."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "1220" + digest.hexdigest()


def _projection(path: Path) -> dict[str, Any]:
    """The COG's grid in the projection extension's fields.

    The CRS is given twice: ``proj:code`` (what pystac, odc-stac and GDAL 3.10+ read) and
    ``proj:epsg`` (what stackstac and older GDAL and pystac read).
    """
    with rasterio.open(path) as src:
        t = src.transform
        epsg = src.crs.to_epsg() if src.crs else None
        return {
            "proj:code": f"EPSG:{epsg}" if epsg else None,
            "proj:epsg": epsg,
            "proj:shape": [src.height, src.width],
            "proj:transform": [t.a, t.b, t.c, t.d, t.e, t.f],
            "proj:bbox": list(src.bounds),
        }


def build_mask_item(
    result: MaskResult,
    mask_href: str,
    *,
    thumbnail_href: str | None = None,
    processed_at: datetime | None = None,
) -> pystac.Item:
    """The STAC item of one mask: ``result`` says what was made, ``mask_href`` where it is now."""
    product = result.product
    processed_at = processed_at or datetime.now(UTC)
    percentages = result.class_percentages
    counts = result.class_counts
    total = sum(counts.values())

    classes = []
    for cls in legend_classes():
        n = int(counts.get(cls["value"], 0))
        cls["count"] = n
        cls["percentage"] = round(100.0 * n / total, 4) if total else 0.0
        classes.append(cls)

    utm_zone, band, square = (
        int(product.mgrs_tile[:2]),
        product.mgrs_tile[2],
        product.mgrs_tile[3:],
    )
    properties: dict[str, Any] = {
        "platform": product.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "gsd": 10,
        CLOUD_COVER: round(result.cloud_cover, 4),
        "grid:code": f"MGRS-{product.mgrs_tile}",
        "mgrs:utm_zone": utm_zone,
        "mgrs:latitude_band": band,
        "mgrs:grid_square": square,
        "sat:relative_orbit": product.relative_orbit,
        "s2:processing_baseline": product.processing_baseline,
        "s2:product_type": f"S2MSI{product.level[1:]}",
        "processing:level": "L2",
        "processing:lineage": f"Cloud mask of {product.id} by model {result.model_id}",
        "processing:datetime": processed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "processing:software": _software(),
        "kappacat:model": result.model_id,
        "kappacat:source_level": product.level,
    }
    rule = result.extra.get("semi_transparent_rule")
    if rule:
        # which rule made class 3: "model", "b10-thin-cirrus", "scl-thin-cirrus" or "none"
        properties[SEMI_TRANSPARENT_RULE] = rule
    for value, name in class_share_properties().items():
        properties[name] = round(percentages[value], 4)
    if product.sun_azimuth is not None:
        properties["view:sun_azimuth"] = round(product.sun_azimuth, 4)
    if product.sun_elevation is not None:
        properties["view:sun_elevation"] = round(product.sun_elevation, 4)

    item = pystac.Item(
        id=product.id,
        geometry=product.footprint,
        bbox=list(product.bbox),
        datetime=product.datetime,
        properties=properties,
        collection=COLLECTION_FOR_LEVEL[product.level],
    )
    item.stac_extensions = [
        stac_ext.CLASSIFICATION,
        stac_ext.EO,
        stac_ext.FILE,
        stac_ext.GRID,
        stac_ext.MGRS,
        stac_ext.PROCESSING,
        stac_ext.PROJECTION,
        stac_ext.RASTER,
        stac_ext.SAT,
        "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json",
        *([stac_ext.VIEW] if product.sun_azimuth is not None else []),
    ]
    mask_fields: dict[str, Any] = {
        **{k: v for k, v in _projection(result.path).items() if v is not None},
        "classification:classes": classes,
        "raster:bands": [
            {"nodata": 0, "data_type": "uint8", "spatial_resolution": 10, "sampling": "area"}
        ],
        "file:size": result.path.stat().st_size,
        "file:checksum": file_checksum(result.path),
    }
    item.add_asset(
        "mask",
        pystac.Asset(
            href=mask_href,
            media_type=pystac.MediaType.COG,
            title="Cloud and cloud-shadow mask",
            roles=["data", "cloud", "cloud-shadow"],
            extra_fields=mask_fields,
        ),
    )
    if thumbnail_href:
        item.add_asset(
            "thumbnail",
            pystac.Asset(
                href=thumbnail_href,
                media_type=pystac.MediaType.PNG,
                title="Thumbnail in the legend colours",
                roles=["thumbnail"],
            ),
        )
    # The API replaces this with an absolute link; it keeps a stored or exported item valid.
    item.add_link(
        pystac.Link(
            rel="collection",
            target=f"../{item.collection_id}/collection.json",
            media_type=pystac.MediaType.JSON,
        )
    )
    source = product.source_item_href or product.href
    if source and not urlsplit(source).scheme:
        # A local SAFE path: as a file URI, so that no API resolves it against its own host.
        source = Path(source).absolute().as_uri()
    if source:
        item.add_link(
            pystac.Link(
                rel="derived_from",
                target=source,
                media_type=(
                    pystac.MediaType.GEOJSON
                    if product.source_item_href
                    else "application/zip"
                    if source.endswith(".zip")
                    else None
                ),
                title=f"Source product {product.id}",
            )
        )
    item.add_link(
        pystac.Link(
            rel="license",
            target="https://creativecommons.org/licenses/by/4.0/",
            media_type="text/html",
        )
    )
    return item


def item_dict(item: pystac.Item) -> dict[str, Any]:
    """An item as the JSON pgstac stores: no self link, hrefs as given."""
    return item.to_dict(include_self_link=False, transform_hrefs=False)

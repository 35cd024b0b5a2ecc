"""The two mask collections, built with pystac, and how they are loaded into pgstac."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pystac

from catalog import stac_ext
from catalog.legend import LEGEND

L1C = "sentinel-2-l1c-kappamask"
L2A = "sentinel-2-l2a-kappamask"
COLLECTION_FOR_LEVEL = {"L1C": L1C, "L2A": L2A}

# Sentinel-2 coverage of Europe (mainland, islands and the Canaries to the North Cape).
EUROPE_BBOX = [-31.5, 27.0, 45.5, 71.5]
SENTINEL2_START = datetime(2015, 6, 27, tzinfo=UTC)


def legend_classes(with_nodata: bool = True) -> list[dict[str, Any]]:
    """The legend as ``classification:classes`` objects."""
    classes = []
    for c in LEGEND:
        if c.value == 0 and not with_nodata:
            continue
        obj: dict[str, Any] = {
            "value": c.value,
            "name": c.name,
            "title": c.title,
            "description": c.description,
        }
        if c.color:
            obj["color_hint"] = c.color.lstrip("#").upper()
        if c.value == 0:
            obj["nodata"] = True
        classes.append(obj)
    return classes


def renders() -> dict[str, Any]:
    """The ``renders`` entry the tiler uses by default: legend colours, nearest resampling."""
    colormap = {str(c.value): list(c.rgba) for c in LEGEND}
    return {
        "mask": {
            "title": "KappaMask classes",
            "assets": ["mask"],
            "nodata": 0,
            "colormap": colormap,
            "resampling": "nearest",
            "minmax_zoom": [7, 18],
        }
    }


def mask_asset_definition() -> dict[str, Any]:
    """``item_assets.mask``: what every item's mask asset looks like."""
    return {
        "title": "Cloud and cloud-shadow mask",
        "description": "KappaMask-legend classes at 10 m, one band, nodata 0",
        "type": pystac.MediaType.COG,
        "roles": ["data", "cloud", "cloud-shadow"],
        "gsd": 10,
        "classification:classes": legend_classes(),
        "raster:bands": [
            {"nodata": 0, "data_type": "uint8", "spatial_resolution": 10, "sampling": "area"}
        ],
    }


def build_collection(level: str) -> pystac.Collection:
    """The mask collection for ``level`` ("L1C" or "L2A")."""
    collection_id = COLLECTION_FOR_LEVEL[level]
    source = f"Sentinel-2 Level-{level[1:]}"
    collection = pystac.Collection(
        id=collection_id,
        title=f"KappaCat cloud and cloud-shadow masks for {source}",
        description=(
            f"Per-pixel cloud, semi-transparent cloud and cloud-shadow masks at 10 m for every "
            f"{source} product over Europe, made with a KappaMask-style ONNX segmentation "
            "model. One item per source product; the `mask` asset is a Cloud-Optimized GeoTIFF "
            "in the product's UTM grid with the classes clear, cloud shadow, semi-transparent "
            "cloud, cloud and missing."
        ),
        extent=pystac.Extent(
            pystac.SpatialExtent([EUROPE_BBOX]),
            pystac.TemporalExtent([[SENTINEL2_START, None]]),
        ),
        license="CC-BY-4.0",
        keywords=["sentinel-2", "cloud", "cloud shadow", "cloud mask", "kappamask", "europe"],
        providers=[
            pystac.Provider(
                "KappaCat",
                roles=[pystac.ProviderRole.PROCESSOR, pystac.ProviderRole.HOST],
                description="Makes the masks and publishes this catalogue",
            ),
            pystac.Provider(
                "European Space Agency",
                roles=[pystac.ProviderRole.PRODUCER, pystac.ProviderRole.LICENSOR],
                url="https://sentinel.esa.int/web/sentinel/missions/sentinel-2",
                description=f"Produces the source {source} products (Copernicus)",
            ),
        ],
        summaries=pystac.Summaries(
            {
                "platform": ["sentinel-2a", "sentinel-2b", "sentinel-2c"],
                "constellation": ["sentinel-2"],
                "instruments": ["msi"],
                "gsd": [10],
                "eo:cloud_cover": {"minimum": 0, "maximum": 100},
                "classification:classes": legend_classes(),
            }
        ),
    )
    collection.stac_extensions = [
        stac_ext.CLASSIFICATION,
        stac_ext.EO,
        stac_ext.RASTER,
        stac_ext.RENDER,
    ]
    collection.extra_fields["item_assets"] = {
        "mask": mask_asset_definition(),
        "thumbnail": {
            "title": "Thumbnail in the legend colours",
            "type": pystac.MediaType.PNG,
            "roles": ["thumbnail"],
        },
    }
    collection.extra_fields["renders"] = renders()
    collection.add_link(
        pystac.Link(
            rel="license",
            target="https://creativecommons.org/licenses/by/4.0/",
            media_type="text/html",
            title="Creative Commons Attribution 4.0 International",
        )
    )
    return collection


def collection_dicts() -> list[dict[str, Any]]:
    """Both mask collections as JSON-ready dicts."""
    out = []
    for level in ("L1C", "L2A"):
        d = build_collection(level).to_dict(include_self_link=False, transform_hrefs=False)
        out.append(d)
    return out

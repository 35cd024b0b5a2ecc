"""Web-map links of items and collections (STAC web-map-links extension): where the tiler
draws a mask, as ``xyz``, ``tilejson`` and ``wmts`` links.

STAC Browser, QGIS's STAC plugin and other clients draw a mask through these links without
decoding the COG themselves. The links are added when the STAC API serves an item or a
collection, from the tiler's public URL in the API's settings, so moving the tiler needs no
republishing. Every link carries the legend colours as its ``colormap``, so a tile looks the
same whichever client asks and whatever ``renders`` the collection has.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from catalog import stac_ext
from catalog.legend import LEGEND

TILE_MATRIX_SET = "WebMercatorQuad"
"""The tile grid of the ``xyz`` and ``tilejson`` links (what web maps and QGIS's XYZ use)."""
WMTS_LAYER_TITLE = "kappacat-masks"
"""The tiler's WMTS layer name; the layer of the default render in a grid is
``{title}_{grid}_default`` (titiler's convention)."""
WMTS_LAYER = f"{WMTS_LAYER_TITLE}_{TILE_MATRIX_SET}_default"
"""The WMTS layer the ``wmts`` links name (``wmts:layer``)."""
WEB_MAP_RELS = frozenset({"xyz", "tilejson", "wmts"})


def legend_colormap_json() -> str:
    """The legend colours as the tiler's ``colormap`` parameter (class value to ``#rrggbb``;
    no data has no colour and stays transparent)."""
    colours = {str(c.value): c.color for c in LEGEND if c.color}
    return json.dumps(colours, separators=(",", ":"))


def _query() -> str:
    return urlencode({"colormap": legend_colormap_json()}, quote_via=quote)


def _links(base: str, title: str) -> list[dict[str, Any]]:
    """The three links to tiles under ``base`` (an item's or a collection's tiler path)."""
    query = _query()
    tiles = f"{base}/tiles/{TILE_MATRIX_SET}/{{z}}/{{x}}/{{y}}.png?{query}"
    return [
        {"rel": "xyz", "type": "image/png", "title": f"{title} (XYZ tiles)", "href": tiles},
        {
            "rel": "tilejson",
            "type": "application/json",
            "title": f"{title} (TileJSON)",
            "href": f"{base}/{TILE_MATRIX_SET}/tilejson.json?{query}",
        },
        {
            "rel": "wmts",
            "type": "application/xml",
            "title": f"{title} (WMTS)",
            "href": f"{base}/WMTSCapabilities.xml?{query}",
            "wmts:layer": WMTS_LAYER,
        },
    ]


def _path(value: str) -> str:
    return quote(value, safe="")


def item_links(tiler_url: str, collection_id: str, item_id: str) -> list[dict[str, Any]]:
    """The web-map links of one item's mask."""
    base = f"{tiler_url.rstrip('/')}/collections/{_path(collection_id)}/items/{_path(item_id)}"
    return _links(base, "Mask")


def collection_links(tiler_url: str, collection_id: str) -> list[dict[str, Any]]:
    """The web-map links of a collection's mosaic (newest mask on top)."""
    base = f"{tiler_url.rstrip('/')}/collections/{_path(collection_id)}"
    return _links(base, "Mosaic of the newest masks")


def _add(obj: dict[str, Any], links: list[dict[str, Any]]) -> dict[str, Any]:
    kept = [link for link in obj.get("links") or [] if link.get("rel") not in WEB_MAP_RELS]
    obj["links"] = kept + links
    extensions = list(obj.get("stac_extensions") or [])
    if stac_ext.WEB_MAP_LINKS not in extensions:
        extensions.append(stac_ext.WEB_MAP_LINKS)
    obj["stac_extensions"] = extensions
    return obj


def add_item_links(item: dict[str, Any], tiler_url: str) -> dict[str, Any]:
    """``item`` with its web-map links and the extension declared (changed in place); an
    empty ``tiler_url`` or an item without ``collection`` and ``id`` is left as it is."""
    if not tiler_url or not item.get("collection") or not item.get("id"):
        return item
    return _add(item, item_links(tiler_url, str(item["collection"]), str(item["id"])))


def add_collection_links(collection: dict[str, Any], tiler_url: str) -> dict[str, Any]:
    """``collection`` with its mosaic's web-map links (changed in place); an empty
    ``tiler_url`` or a collection without ``id`` is left as it is."""
    if not tiler_url or not collection.get("id"):
        return collection
    return _add(collection, collection_links(tiler_url, str(collection["id"])))

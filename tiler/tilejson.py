"""TileJSON of 256 px tiles unless asked otherwise, saying its tile size in ``tileSize``.

titiler's TileJSON routes (item and mosaic) write ``tilesize=512`` into the tile template
when the request names none. GDAL's XYZ (the WMS driver, 256 px blocks unless told) and
QGIS's XYZ connections then fail with "Incorrect size 512 x 512"; Leaflet and OpenLayers
draw 256 px tiles too. So a TileJSON request without ``tilesize`` is answered as one with
``tilesize=256``, and every TileJSON carries ``tileSize`` (the key MapLibre reads from a
TileJSON source) equal to the size its template asks for.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_TILE_SIZE = 256
"""Tile size of a TileJSON that names none: the WebMercatorQuad grid's, GDAL's default."""
TILEJSON_SUFFIX = "/tilejson.json"


def _tile_size(pairs: list[tuple[str, str]]) -> int | None:
    for key, value in pairs:
        if key == "tilesize":
            try:
                return int(value)
            except ValueError:
                return None  # the route refuses it with a 422
    return None


class TileJSONTileSizeMiddleware:
    """Gives TileJSON requests ``tilesize=256`` by default and their answers ``tileSize``."""

    def __init__(self, app: ASGIApp, default: int = DEFAULT_TILE_SIZE) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass other requests through untouched."""
        if scope["type"] != "http" or not scope["path"].endswith(TILEJSON_SUFFIX):
            await self.app(scope, receive, send)
            return
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if not any(key == "tilesize" for key, _ in pairs):
            pairs.append(("tilesize", str(self.default)))
            scope = {**scope, "query_string": urlencode(pairs).encode("latin-1")}
        size = _tile_size(pairs)
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def send_with_size(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start.get("status") == 200 and size is not None:
                document = json.loads(body)
                document["tileSize"] = size
                body = json.dumps(document, separators=(",", ":")).encode()
                MutableHeaders(scope=start)["content-length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_with_size)

"""titiler factories for item tiles, collection mosaics and registered searches.

The factories are titiler's own; KappaCat's behaviour comes in through their typed attributes
(see :mod:`tiler.dependencies`), and each one registers only the routes KappaCat serves: no
route takes a dataset URL or path from the caller.

The tile routes, the ones a web map calls hundreds of times a minute, are KappaCat's own:
the same paths, names and parameters a client of titiler uses (tile matrix set, z/x/y,
format, tilesize, colormap), without the dozen option dependencies titiler resolves for every
tile that class maps do not have (bands, expressions, rescaling, algorithms, resampling).
Each tile is read and encoded in one trip to a worker thread.
"""

# No ``from __future__ import annotations``: FastAPI reads the tile endpoints' parameter types,
# and the tile matrix set type is local to each factory.
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any, Literal

import numpy as np
import rasterio
from attrs import define
from fastapi import Depends, Path, Query
from morecantile import Tile, TileMatrixSet
from morecantile import tms as default_tms
from morecantile.defaults import TileMatrixSets
from pydantic import Field
from rio_tiler.errors import EmptyMosaicError, NoAssetFoundError, TileOutsideBounds
from rio_tiler.models import ImageData
from rio_tiler.mosaic.methods.defaults import FirstMethod
from rio_tiler.utils import CRS_to_uri
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from titiler.core.factory import BaseFactory, TilerFactory, img_endpoint_params
from titiler.core.resources.enums import ImageType
from titiler.core.routing import EndpointScope
from titiler.extensions import wmtsExtension
from titiler.mosaic.extensions.wmts import wmtsExtension as mosaicWmtsExtension
from titiler.pgstac.extensions import searchInfoExtension
from titiler.pgstac.factory import MosaicTilerFactory

from catalog.legend import legend_colormap
from catalog.web_map_links import WMTS_LAYER_TITLE
from tiler import dependencies as deps
from tiler import options as opts
from tiler.errors import SkippedItem, skipped_header
from tiler.imaging import render_tile
from tiler.options import GDAL_ENV, BackendParams, MosaicSearchOptions, ReaderParams, provider
from tiler.readers import MaskMosaicBackend, MaskReader

TILE_PATHS: tuple[tuple[str, str], ...] = (
    # the scaled paths first: ``{y}.{format}`` would take ``3@2x.png`` for a row
    ("/tiles/{tileMatrixSetId}/{z}/{x}/{y}@{scale}x.{format}", "getTileScaledWithFormat"),
    ("/tiles/{tileMatrixSetId}/{z}/{x}/{y}@{scale}x", "getTileScaled"),
    ("/tiles/{tileMatrixSetId}/{z}/{x}/{y}.{format}", "getTileWithFormat"),
    ("/tiles/{tileMatrixSetId}/{z}/{x}/{y}", "getTile"),
)
"""Tile paths and their operation ids: titiler's, and ``@{scale}x`` for tiles of ``scale``
times the grid's tile size (``@2x``: 512 px tiles in WebMercatorQuad)."""
TILE_SCOPES: list[EndpointScope] = [{"path": path, "method": "GET"} for path, _ in TILE_PATHS]


class SharedTileMatrixSets(TileMatrixSets):
    """Tile matrix sets handed out as they are, not deep-copied on every request.

    Nothing modifies a grid, and a shared one keeps its cached properties (its rasterio CRS).
    """

    def get(self, identifier: str) -> TileMatrixSet:
        """The grid with this identifier."""
        found = self.tilematrixsets.get(identifier)
        if not isinstance(found, TileMatrixSet):
            return super().get(identifier)
        return found


def tile_matrix_sets(names: list[str]) -> TileMatrixSets:
    """The offered tile matrix sets, from morecantile's defaults."""
    known = default_tms.list()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown tile matrix sets {unknown}; known: {', '.join(known)}")
    grids: dict[str, TileMatrixSet] = {n: default_tms.get(n) for n in names}
    return SharedTileMatrixSets(grids)


def _no_renders(obj: Any) -> dict[str, dict[str, Any]]:
    """Layers besides the default one: none (the default already is the legend)."""
    return {}


TileIndex = Annotated[int, Path(description="Zoom level, column or row of the tile")]
TileSize = Annotated[
    int | None,
    Query(
        gt=0,
        description="Tile size in pixels (a side); default: the grid's (256), or its "
        "``scale`` times with ``@{scale}x``.",
    ),
]
TileFormat = Annotated[
    ImageType | None, Field(description="png (paletted, the default) or webp (lossless)")
]


_CRS_URIS: dict[str, str | None] = {}


def _crs_uri(tms: TileMatrixSet) -> str | None:
    """The CRS URI of a tile grid (looked up once: pyproj's authority search is slow)."""
    key = str(tms.id)
    if key not in _CRS_URIS:
        _CRS_URIS[key] = CRS_to_uri(tms.rasterio_crs)
    return _CRS_URIS[key]


def tile_response(image: ImageData, tms: TileMatrixSet, fmt: ImageType | None, colormap: Any):
    """The encoded tile with titiler's Content-Bbox and Content-Crs headers."""
    content, media_type = render_tile(image, output_format=fmt, colormap=colormap)
    headers = {"Content-Bbox": ",".join(map(str, image.bounds or ()))}
    if uri := _crs_uri(tms):
        headers["Content-Crs"] = f"<{uri}>"
    return Response(content, media_type=media_type, headers=headers)


@lru_cache(maxsize=32)
def _transparent(side: int, fmt: ImageType | None) -> tuple[bytes, str]:
    nothing = np.ma.MaskedArray(np.zeros((1, side, side), np.uint8), mask=True)
    return render_tile(ImageData(nothing), output_format=fmt, colormap=legend_colormap())


def empty_tile(tms: TileMatrixSet, x: int, y: int, z: int, size: int | None, fmt: Any) -> Response:
    """A fully transparent tile, where there is no mask to draw.

    Not a 204 or a 404: GDAL's WMS and WMTS drivers (QGIS's XYZ and WMTS layers) log
    "Unable to open downloaded block" for a 204 and fail the read on a 404; a transparent PNG
    is a tile like any other to them and to web maps. Encoded once per size and format.
    """
    side = size or tms.matrix(z).tileWidth
    content, media_type = _transparent(side, fmt)
    headers = {"Content-Bbox": ",".join(map(str, tms.xy_bounds(Tile(x=x, y=y, z=z))))}
    if uri := _crs_uri(tms):
        headers["Content-Crs"] = f"<{uri}>"
    return Response(content, media_type=media_type, headers=headers)


async def draw_tile(
    read: Callable[[], ImageData], tms: TileMatrixSet, fmt: ImageType | None, colormap: Any
) -> Response:
    """Read (under the GDAL options: readers open COGs there) and encode a tile, in one trip
    to a worker thread."""

    def draw() -> Response:
        with rasterio.Env(**GDAL_ENV):
            image = read()
        return tile_response(image, tms, fmt, colormap)

    response: Response = await run_in_threadpool(draw)
    return response


def tile_size(tms: TileMatrixSet, z: int, tilesize: int | None, scale: int) -> int | None:
    """The side of a tile in pixels: ``tilesize`` if given, else ``scale`` times the grid's
    (None: the grid's own, 256 px in WebMercatorQuad, what GDAL's XYZ expects)."""
    if tilesize:
        return tilesize
    return tms.matrix(z).tileWidth * scale if scale > 1 else None


def tms_id_type(grids: TileMatrixSets) -> Any:
    """The type of a ``tileMatrixSetId`` path parameter: one of the offered grids (else 422)."""
    return Literal[tuple(grids.list())]


def _tile_routes(factory: BaseFactory) -> Any:
    """The decorator registering a tile endpoint under both tile paths, named ``tile``."""
    prefix = factory.operation_prefix

    def register(endpoint: Any) -> Any:
        for path, operation in TILE_PATHS:
            factory.router.add_api_route(
                path,
                endpoint,
                methods=["GET"],
                name="tile",
                operation_id=f"{prefix}{operation}",
                **img_endpoint_params,
            )
        return endpoint

    return register


@define(kw_only=True)
class ItemTilerFactory(TilerFactory):
    """Tiles, TileJSON, tilesets, point values and info of one item's mask."""

    def register_routes(self) -> None:
        """Only these routes (no preview, crop, statistics or viewer of titiler's)."""
        self.info()
        self.tilesets()
        self.tile()
        self.tilejson()
        self.point()

    def tile(self) -> None:
        """A tile of the item's mask, in the legend colours unless a colormap is given."""
        grids = self.supported_tms
        TmsId: Any = tms_id_type(grids)

        @_tile_routes(self)
        async def tile(
            z: TileIndex,
            x: TileIndex,
            y: TileIndex,
            tileMatrixSetId: Annotated[TmsId, Path(description="Tile matrix set")],
            format: TileFormat = None,
            tilesize: TileSize = None,
            scale: int = 1,
            item: dict[str, Any] = Depends(self.path_dependency),
            reader: ReaderParams = Depends(self.reader_dependency),
            colormap: Any = Depends(self.colormap_dependency),
        ) -> Response:
            """A tile of the item's mask: legend colours, no data transparent (or `colormap`);
            a tile outside the mask is fully transparent."""
            tms = grids.get(tileMatrixSetId)
            size = tile_size(tms, z, tilesize, scale)

            def read() -> ImageData:
                source: Any = item
                with MaskReader(source, tms=tms, roots=reader.roots) as mask:
                    return mask.tile(x, y, z, tilesize=size)

            try:
                return await draw_tile(read, tms, format, colormap)
            except TileOutsideBounds:
                return empty_tile(tms, x, y, z, size, format)


@define(kw_only=True)
class MaskMosaicFactory(MosaicTilerFactory):
    """Tiles, TileJSON, tilesets and item lists of a mosaic of masks."""

    def register_routes(self) -> None:
        """Only these routes (no point, statistics, crop or viewer of titiler's)."""
        self.tilesets()
        self.tile()
        self.tilejson()
        self.assets()

    def tile(self) -> None:
        """A mosaic tile: the first item with data on top, in the legend colours."""
        grids = self.supported_tms
        TmsId: Any = tms_id_type(grids)

        @_tile_routes(self)
        async def tile(
            request: Request,
            z: TileIndex,
            x: TileIndex,
            y: TileIndex,
            tileMatrixSetId: Annotated[TmsId, Path(description="Tile matrix set")],
            format: TileFormat = None,
            tilesize: TileSize = None,
            scale: int = 1,
            search_id: str = Depends(self.path_dependency),
            backend: BackendParams = Depends(self.backend_dependency),
            reader: ReaderParams = Depends(self.reader_dependency),
            search: MosaicSearchOptions = Depends(self.assets_accessor_dependency),
            colormap: Any = Depends(self.colormap_dependency),
        ) -> Response:
            """A mosaic tile: the first item with data on top, in the legend colours; fully
            transparent where there is none. Items whose mask cannot be read are left out
            and named in the KappaCat-Skipped-Items header."""
            tms = grids.get(tileMatrixSetId)
            size = tile_size(tms, z, tilesize, scale)
            skipped: list[SkippedItem] = []

            def read() -> ImageData:
                with MaskMosaicBackend(
                    search_id,
                    tms=tms,
                    reader=MaskReader,  # type: ignore[arg-type]
                    reader_options=reader.as_dict(),
                    **backend.as_dict(),
                ) as mosaic:
                    try:
                        image, _ = mosaic.tile(
                            x,
                            y,
                            z,
                            tilesize=size,
                            search_options=search.as_dict(),
                            pixel_selection=FirstMethod(),
                        )
                    finally:
                        skipped.extend(mosaic.skipped)
                return image

            try:
                response = await draw_tile(read, tms, format, colormap)
            except (EmptyMosaicError, NoAssetFoundError):
                response = empty_tile(tms, x, y, z, size, format)  # nothing (left) to draw
            if skipped:
                response.headers.update(skipped_header(skipped))
                request.state.cache_headers = {"Cache-Control": "no-store"}  # degraded
            return response


def item_factory(supported: TileMatrixSets) -> ItemTilerFactory:
    """Routes under ``/collections/{collection_id}/items/{item_id}``."""
    return ItemTilerFactory(
        reader=MaskReader,
        reader_dependency=provider(opts.reader_options),
        path_dependency=deps.item_content,
        layer_dependency=provider(opts.no_layer),
        dataset_dependency=provider(opts.class_map),
        process_dependency=provider(opts.no_algorithm),
        colormap_dependency=provider(deps.colormap_params),
        render_dependency=provider(opts.render_options),
        tile_dependency=provider(opts.tile_options),
        environment_dependency=provider(opts.gdal_env),
        render_func=render_tile,
        supported_tms=supported,
        router_prefix="/collections/{collection_id}/items/{item_id}",
        route_dependencies=[(TILE_SCOPES, [Depends(deps.item_tile_cache)])],
        extensions=[wmtsExtension(layer_identifier_provider=lambda _: WMTS_LAYER_TITLE)],
        add_preview=False,
        add_part=False,
        add_viewer=False,
    )


def mosaic_factory(
    supported: TileMatrixSets, path_dependency: Any, router_prefix: str
) -> MaskMosaicFactory:
    """Routes of a mosaic: a collection's (search from query parameters) or a registered one."""
    return MaskMosaicFactory(
        path_dependency=path_dependency,
        backend=MaskMosaicBackend,
        backend_dependency=provider(opts.backend_options),
        dataset_reader=MaskReader,  # type: ignore[arg-type]
        reader_dependency=provider(opts.reader_options),
        assets_accessor_dependency=opts.MosaicSearchOptions,
        layer_dependency=provider(opts.no_layer),
        dataset_dependency=provider(opts.class_map),
        pixel_selection_dependency=provider(opts.first_pixel),
        process_dependency=provider(opts.no_algorithm),
        colormap_dependency=provider(deps.colormap_params),
        render_dependency=provider(opts.render_options),
        tile_dependency=provider(opts.tile_options),
        environment_dependency=provider(opts.gdal_env),
        render_func=render_tile,
        supported_tms=supported,
        router_prefix=router_prefix,
        route_dependencies=[(TILE_SCOPES, [Depends(deps.mosaic_tile_cache)])],
        get_renders=_no_renders,
        extensions=[
            searchInfoExtension(),
            mosaicWmtsExtension(layer_identifier_provider=lambda _: WMTS_LAYER_TITLE),
        ],
        add_viewer=False,
        add_statistics=False,
        add_part=False,
    )

"""titiler factories for item tiles, collection mosaics and registered searches.

The factories are titiler's own; KappaCat's behaviour comes in through their typed attributes
(see :mod:`tiler.dependencies`), and each one registers only the routes KappaCat serves: no
route takes a dataset URL or path from the caller.
"""

from __future__ import annotations

from typing import Any

from attrs import define
from fastapi import Depends
from morecantile import TileMatrixSet
from morecantile import tms as default_tms
from morecantile.defaults import TileMatrixSets
from titiler.core.factory import TilerFactory
from titiler.core.routing import EndpointScope
from titiler.extensions import wmtsExtension
from titiler.mosaic.extensions.wmts import wmtsExtension as mosaicWmtsExtension
from titiler.pgstac.extensions import searchInfoExtension
from titiler.pgstac.factory import MosaicTilerFactory

from tiler import dependencies as deps
from tiler import options as opts
from tiler.imaging import render_tile
from tiler.options import provider
from tiler.readers import MaskMosaicBackend, MaskReader

TILE_SCOPES: list[EndpointScope] = [
    {"path": "/tiles/{tileMatrixSetId}/{z}/{x}/{y}", "method": "GET"},
    {"path": "/tiles/{tileMatrixSetId}/{z}/{x}/{y}.{format}", "method": "GET"},
]


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


@define(kw_only=True)
class MaskMosaicFactory(MosaicTilerFactory):
    """Tiles, TileJSON, tilesets and item lists of a mosaic of masks."""

    def register_routes(self) -> None:
        """Only these routes (no point, statistics, crop or viewer of titiler's)."""
        self.tilesets()
        self.tile()
        self.tilejson()
        self.assets()


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
        extensions=[wmtsExtension()],
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
            mosaicWmtsExtension(layer_identifier_provider=lambda _: "KappaCat masks"),
        ],
        add_viewer=False,
        add_statistics=False,
        add_part=False,
    )

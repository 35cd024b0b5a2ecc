"""How masks are read and drawn: the option dependencies of the titiler factories.

Class maps are read with nearest neighbour only, one band, no algorithms, and mosaics take
the first item with data. Options without query parameters are provided by ``async``
functions, which FastAPI runs on the event loop instead of a worker thread; titiler types
these attributes as dependency classes, hence :func:`provider`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, cast

from fastapi import Query
from psycopg_pool import ConnectionPool
from rio_tiler.mosaic.methods.base import MosaicMethodBase
from rio_tiler.mosaic.methods.defaults import FirstMethod
from starlette.requests import Request
from titiler.core.dependencies import DefaultDependency

from tiler.catalog import Catalog
from tiler.dependencies import app_state
from tiler.storage import StorageRoots

GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "VSI_CACHE": "TRUE",
}
"""GDAL options for reading COGs quickly (local directories and object storage)."""


def provider(function: Any) -> Any:
    """An async dependency where titiler's factories expect a dependency class."""
    return cast(Any, function)


@dataclass
class ReaderParams(DefaultDependency):
    """Options of :class:`tiler.readers.MaskReader`: the storage roots."""

    roots: StorageRoots


@dataclass
class BackendParams(DefaultDependency):
    """Options of :class:`tiler.readers.MaskMosaicBackend`: the catalog and its limits."""

    pool: ConnectionPool
    catalog: Catalog
    max_items: int
    time_limit: int


@dataclass
class ClassMapParams(DefaultDependency):
    """Class maps are resampled with nearest neighbour only, whatever the request says.

    Overviews of the mask COGs are made with ``mode``, so low zooms show the majority class.
    """

    resampling_method: str = field(init=False, default="nearest")
    reproject_method: str = field(init=False, default="nearest")


@dataclass
class NoLayerParams(DefaultDependency):
    """A mask has one band: no band, expression or asset selection."""


@dataclass
class MosaicSearchOptions(DefaultDependency):
    """How many items a mosaic tile may be drawn from (at most the configured limit)."""

    items_limit: Annotated[
        int | None, Query(ge=1, description="Most items drawn into one tile.")
    ] = None


@dataclass
class RenderParams(DefaultDependency):
    """Rendering options of class maps: no data transparent."""

    add_mask: bool = True


async def tile_options() -> DefaultDependency:
    """No tile buffer or padding: class-map tiles are drawn edge to edge."""
    return DefaultDependency()


async def render_options() -> RenderParams:
    """No data is always transparent."""
    return RenderParams()


async def reader_options(request: Request) -> ReaderParams:
    """The app's storage roots for the mask reader."""
    return ReaderParams(app_state(request).roots)


async def backend_options(request: Request) -> BackendParams:
    """The app's catalog and limits for the mosaic backend."""
    state = app_state(request)
    return BackendParams(
        pool=state.catalog.pool,
        catalog=state.catalog,
        max_items=state.settings.max_items_per_tile,
        time_limit=state.settings.mosaic_time_limit,
    )


async def class_map() -> ClassMapParams:
    """Nearest neighbour, always."""
    return ClassMapParams()


async def no_layer() -> NoLayerParams:
    """The one band."""
    return NoLayerParams()


async def first_pixel() -> MosaicMethodBase:
    """Mosaics of class maps take the first item with data (no averaging of classes)."""
    return FirstMethod()


async def no_algorithm() -> None:
    """No post-processing algorithms on class maps."""
    return None


async def gdal_env() -> dict[str, str]:
    """GDAL options for reading COGs quickly."""
    return GDAL_ENV

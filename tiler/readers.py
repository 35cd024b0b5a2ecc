"""rio-tiler readers for mask items: only the ``mask`` asset, only under the storage roots."""

from __future__ import annotations

from typing import Any

import attr
import numpy as np
from geojson_pydantic.geometries import Geometry
from morecantile import Tile
from rio_tiler.constants import WGS84_CRS
from rio_tiler.errors import (
    EmptyMosaicError,
    NoAssetFoundError,
    PointOutsideBounds,
    TileOutsideBounds,
)
from rio_tiler.io import Reader
from rio_tiler.models import ImageData, PointData
from rio_tiler.mosaic.reader import mosaic_reader
from titiler.pgstac.backend import PGSTACBackend
from titiler.pgstac.model import Search

from tiler.catalog import Catalog
from tiler.errors import BROKEN_ITEM_ERRORS, SkippedItem
from tiler.rasters import NODATA, borrow_mask, read_tile
from tiler.storage import MASK_ASSET, StorageRoots


@attr.s
class MaskReader(Reader):
    """Reads an item's mask COG; ``input`` is the item (a dict, as pgstac returns it).

    The asset's href is checked against ``roots`` before anything is opened, so neither a
    caller nor a crafted item can make the tiler read another file or URL. The dataset is a
    kept-open handle borrowed from :data:`tiler.rasters.DATASETS` until the reader closes, and
    plain tiles are read with :func:`tiler.rasters.read_tile`.
    """

    roots: StorageRoots = attr.ib(default=StorageRoots((), ()))
    item_id: str = attr.ib(init=False, default="")
    version: str | None = attr.ib(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        """Swap the item for its checked mask location, then set up as rio-tiler does."""
        item: Any = self.input
        if isinstance(item, dict):
            self.item_id = f"{item.get('collection')}/{item.get('id')}"
            self.input = self.roots.mask_href(item)
            asset = (item.get("assets") or {}).get(MASK_ASSET) or {}
            self.version = asset.get("file:checksum")
        else:  # a bare path is checked just the same
            self.item_id = str(item)
            self.input = self.roots.resolve(str(item), "asset")
        if self.dataset is None:
            mask = borrow_mask(self.input, f"item {self.item_id}", self.version)
            self.dataset = self._ctx_stack.enter_context(mask)
        if self.colormap is None:
            self.colormap = {}  # the legend comes from the request's colormap dependency
        super().__attrs_post_init__()

    def point(
        self,
        lon: float,
        lat: float,
        coord_crs: Any = WGS84_CRS,
        indexes: Any = None,
        expression: str | None = None,
        **kwargs: Any,
    ) -> PointData:
        """The class at a point; a point outside the mask's bounds is not projected at all
        (PROJ fails on a longitude far from the mask's UTM zone: that was a 500)."""
        if coord_crs == WGS84_CRS:
            west, south, east, north = self.get_geographic_bounds(WGS84_CRS)
            if not (west <= lon <= east and south <= lat <= north):
                raise PointOutsideBounds(f"point {lon},{lat} is outside the mask of {self.item_id}")
        return super().point(
            lon, lat, coord_crs=coord_crs, indexes=indexes, expression=expression, **kwargs
        )

    def tile(
        self,
        tile_x: int,
        tile_y: int,
        tile_z: int,
        tilesize: int | None = None,
        indexes: Any = None,
        expression: str | None = None,
        buffer: float | None = None,
        **kwargs: Any,
    ) -> ImageData:
        """A tile of classes, nearest neighbour from the best overview; no data masked."""
        if buffer or expression or kwargs.get("padding") or indexes not in (None, 1, [1], (1,)):
            return super().tile(
                tile_x,
                tile_y,
                tile_z,
                tilesize=tilesize,
                indexes=indexes,
                expression=expression,
                buffer=buffer,
                **kwargs,
            )
        matrix = self.tms.matrix(tile_z)
        size = (tilesize or matrix.tileWidth, tilesize or matrix.tileHeight)
        tile = Tile(x=tile_x, y=tile_y, z=tile_z)
        assert self.dataset is not None and self.input is not None
        classes = read_tile(self.input, self.dataset, self.tms, tile, size, self.version)
        if classes is None:
            raise TileOutsideBounds(f"Tile(x={tile_x}, y={tile_y}, z={tile_z}) is outside bounds")
        return ImageData(
            np.ma.MaskedArray(classes[None], mask=(classes == NODATA)[None]),
            assets=[self.input],
            bounds=self.tms.xy_bounds(tile),
            crs=self.tms.rasterio_crs,
            band_names=["b1"],
            nodata=NODATA,
        )


@attr.s
class MaskMosaicBackend(PGSTACBackend):
    """titiler-pgstac's mosaic backend, reading through the app's :class:`Catalog`.

    Search metadata and the items of each tile come from the catalog (per-app caches, the
    configured items limit) instead of titiler-pgstac's process-wide caches; items are read
    one after the other in the request's thread, stopping once the tile is full.
    """

    catalog: Catalog | None = attr.ib(default=None)
    max_items: int = attr.ib(default=20)
    time_limit: int = attr.ib(default=5)

    def _catalog(self) -> Catalog:
        if self.catalog is None:
            raise RuntimeError("MaskMosaicBackend needs a catalog")
        return self.catalog

    def info(self) -> Search:  # type: ignore[override]
        """The registered search behind this mosaic."""
        return self._catalog().search_info(self.input)

    skipped: list[SkippedItem] = attr.ib(factory=list, init=False)

    def tile(  # type: ignore[override]
        self, x: int, y: int, z: int, search_options: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[ImageData, list[str]]:
        """The mosaic tile, its items read one after the other in this thread (their datasets
        stay open here). An item whose mask cannot be read is left out and listed in
        :attr:`skipped`; the others are drawn."""
        options = search_options or {}
        items = self.assets_for_tile(x, y, z, **options)
        if not items:
            raise NoAssetFoundError(f"No assets found for tile {z}-{x}-{y}")
        try:
            drawn = self._draw(items, x, y, z, **kwargs)
        except EmptyMosaicError:
            if not self.skipped:
                raise
        else:
            if not self.skipped:
                return drawn
        # pgstac stops listing items at the first one that covers the tile: behind a broken
        # one there may be more, so ask for every item of the tile (up to the items limit)
        everything = {**options, "exitwhenfull": False, "skipcovered": False}
        try:
            return self._draw(self.assets_for_tile(x, y, z, **everything), x, y, z, **kwargs)
        finally:
            self.skipped = list({(s.collection, s.id): s for s in self.skipped}.values())

    def _draw(
        self, items: list[Any], x: int, y: int, z: int, **kwargs: Any
    ) -> tuple[ImageData, list[str]]:
        reader: Any = self.reader

        def read(item: dict[str, Any], x: int, y: int, z: int, **options: Any) -> ImageData:
            try:
                with reader(item, tms=self.tms, **self.reader_options) as mask:
                    return mask.tile(x, y, z, **options)
            except BROKEN_ITEM_ERRORS as exc:
                self.skipped.append(SkippedItem.of(item, exc))
                raise TileOutsideBounds(str(exc)) from exc  # an item to leave out

        image, used = mosaic_reader(items, read, x, y, z, threads=0, **kwargs)
        return image, [self.asset_name(item) for item in used]

    def get_assets(
        self,
        geom: Geometry,
        fields: dict[str, Any] | None = None,
        scan_limit: int | None = None,
        items_limit: int | None = None,
        time_limit: int | None = None,
        exitwhenfull: bool | None = None,
        skipcovered: bool | None = None,
    ) -> list[dict[str, Any]]:
        """The items drawn into ``geom``, first on top."""
        return self._catalog().mosaic_items(
            self.input,
            geom.model_dump_json(exclude_none=True),
            items_limit=min(items_limit or self.max_items, self.max_items),
            time_limit=self.time_limit,
            exitwhenfull=True if exitwhenfull is None else exitwhenfull,
            skipcovered=True if skipcovered is None else skipcovered,
        )

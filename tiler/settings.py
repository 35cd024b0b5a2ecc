"""Settings of the tiler, from ``KAPPACAT_TILER_*`` environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from catalog.metrics import MetricsSettings
from catalog.settings import KappacatSettings, split_comma_separated
from catalog.web import RequestLimits


class TilerSettings(KappacatSettings, RequestLimits, MetricsSettings):
    """The tile server: where masks may be read from, links, limits, caching, proxy."""

    model_config = SettingsConfigDict(env_prefix="KAPPACAT_TILER_")

    storage_roots: Annotated[list[str] | None, NoDecode] = None
    """Local directories or URL prefixes (``s3://bucket/masks/``, ``https://host/masks/``) the
    tiler may read mask COGs from, comma separated. ``PREFIX=DIRECTORY`` reads hrefs under a
    URL prefix from a local directory (the STAC API's ``/assets`` route and the folder behind
    it). Unset: the pipeline's storage (``KAPPACAT_STORAGE_URL``, with its public URL mapped
    to it). An item whose asset lies elsewhere is refused with a 403; set but empty, nothing
    can be read."""
    api_url: str = "http://127.0.0.1:8081"
    """Public URL of the STAC API, for the links to items (web map, point queries)."""
    title: str = "KappaCat cloud masks"
    """Title of the service and of the web map."""
    root_path: str = ""
    """Path prefix the tiler is served under behind a reverse proxy (e.g. ``/tiles``)."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies trusted for X-Forwarded-* headers (uvicorn's ``forwarded_allow_ips``)."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    """Origins allowed to use the tiler from a browser (comma separated)."""
    tile_matrix_sets: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["WebMercatorQuad", "WorldCRS84Quad", "EuropeanETRS89_LAEAQuad"]
    )
    """Tile matrix sets offered (morecantile names)."""
    basemap_url: str | None = None
    """Optional XYZ raster basemap template for the web map (``https://.../{z}/{x}/{y}.png``);
    without it the map has a plain background and works offline."""

    max_tile_size: int = Field(1024, ge=64, le=4096)
    """Largest ``tilesize`` (pixels a side) a tile request may ask for."""
    max_items_per_tile: int = Field(20, ge=1, le=500)
    """Most items one mosaic tile is drawn from (pgstac's items limit)."""
    mosaic_time_limit: int = Field(5, ge=1, le=60)
    """Seconds pgstac may spend finding the items of one mosaic tile."""
    max_polygon_vertices: int = Field(2000, ge=4)
    """Most vertices (all rings together) of an AOI polygon."""
    max_aoi_pixels: int = Field(25_000_000, ge=1)
    """Most 10 m pixels of the AOI's bounding box per item (25 M = 50 km x 50 km)."""
    max_date_range_days: int = Field(366, ge=1)
    """Longest closed date range a request may cover; open ranges are refused."""
    max_query_items: int = Field(100, ge=1, le=1000)
    """Most items a point query or AOI statistics answer covers (newest first)."""

    item_cache_max_age: int = Field(3600, ge=0)
    """``Cache-Control: max-age`` of item tiles (they also carry an ETag)."""
    mosaic_cache_max_age: int = Field(300, ge=0)
    """``Cache-Control: max-age`` of mosaic and search tiles."""
    lookup_cache_ttl: float = Field(300.0, ge=0)
    """Seconds the tiler remembers items, collections, searches and mosaic item lists it read
    from the database (0: ask the database every time); as long as mosaic tiles are cached."""

    pool_min_size: int = Field(1, ge=0)
    """Database connections kept open."""
    pool_max_size: int = Field(10, ge=1)
    """Most database connections at once."""
    max_registered_searches: int = Field(10_000, ge=10)
    """Most searches kept registered in pgstac (every distinct mosaic query registers one): a
    new one beyond them takes the place of the least recently used, unless all were used in
    the last two lookup-cache periods (then 503)."""

    metrics_port: int = Field(9182, ge=0, le=65535)
    """Port of the tiler's metrics listener (``/metrics`` on ``metrics_host``, the requests of
    all its worker processes); 0: no metrics."""

    @field_validator("storage_roots", "cors_origins", "tile_matrix_sets", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return split_comma_separated(value)

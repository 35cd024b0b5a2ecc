"""Settings of the STAC API, from ``KAPPACAT_API_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from catalog.metrics import MetricsSettings
from catalog.settings import DEFAULT_TILER_URL, KappacatSettings, split_comma_separated
from catalog.web import RequestLimits


class ApiSettings(KappacatSettings, RequestLimits, MetricsSettings):
    """The STAC API: title, proxy and CORS, authentication of write routes, limits."""

    model_config = SettingsConfigDict(env_prefix="KAPPACAT_API_")

    title: str = "KappaCat"
    """Title of the catalogue (the landing page's and the OpenAPI document's)."""
    description: str = (
        "An open STAC catalogue of cloud and cloud-shadow masks for Sentinel-2 products over "
        "Europe: search masks by place, date and cloud cover."
    )
    """Description of the catalogue on its landing page."""
    root_path: str = ""
    """Path prefix the API is served under behind a reverse proxy (e.g. ``/stac``)."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies trusted for X-Forwarded-* headers (uvicorn's ``forwarded_allow_ips``)."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    """Origins whose web pages may read the API (searches included), comma separated."""
    cors_write_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins whose web pages may also use the write routes (methods PUT, PATCH, DELETE and
    the key headers); none by default."""
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Keys that may use the write routes (header ``X-API-Key`` or ``Authorization: Bearer``).
    Without any key the transaction routes are not exposed at all."""
    max_write_body_bytes: int = Field(16_777_216, ge=1024)
    """Largest body of a request that carries a valid key (item collections to the write
    routes); anonymous requests are held to ``max_body_bytes``."""
    max_limit: int = Field(1000, ge=1, le=10_000)
    """Largest page size of a search. A larger ``limit`` is answered with this many items per
    page, as the STAC API specification requires (OGC API Features: "SHALL NOT result in an
    error")."""
    refuse_limit_above_max: bool = False
    """Refuse a ``limit`` above ``max_limit`` with a 400 instead (not what the specification
    asks; for operators whose clients must learn they got less than they asked for)."""
    pool_min_size: int = 1
    """Database connections each API process keeps open."""
    pool_max_size: int = 10
    """Most database connections of one API process at once."""
    hydrate_in_api: bool = True
    """Rebuild items from their collection's base item in the API (Python) rather than in
    PostgreSQL (pgstac's plpgsql): a page of 10 mask items costs the database 12 ms instead of
    41 ms, and the database is what a search waits for."""
    tiler_url: str = DEFAULT_TILER_URL
    """Public URL of the tiler: items and collections are served with web-map links
    (``xyz``, ``tilejson``, ``wmts``) to it, which STAC Browser and GIS clients draw masks
    with; empty: no such links."""
    assets_dir: Path | None = None
    """Local folder whose files are served under ``/assets`` (masks and thumbnails); unset:
    the pipeline's storage directory (``KAPPACAT_STORAGE_URL``) when storage is local."""
    metrics_port: int = Field(9181, ge=0, le=65535)
    """Port of the API's metrics listener (``/metrics`` on ``metrics_host``, the requests of
    all its worker processes); 0: no metrics."""

    @field_validator("cors_origins", "cors_write_origins", "api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return split_comma_separated(value)

    @property
    def transactions_enabled(self) -> bool:
        """Whether write routes exist (only with at least one API key)."""
        return bool(self.api_keys)

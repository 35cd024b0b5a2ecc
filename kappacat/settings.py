"""Settings shared by every component: where the database is and who connects to it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def split_comma_separated(value: object) -> object:
    """A ``"a, b,c"`` environment value as ``["a", "b", "c"]`` (other values unchanged)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class DatabaseSettings(BaseSettings):
    """The catalogue database (PostgreSQL + PostGIS + pgstac), from ``KAPPACAT_DATABASE_*``."""

    model_config = SettingsConfigDict(
        env_prefix="KAPPACAT_DATABASE_", extra="ignore", use_attribute_docstrings=True
    )

    url: str = "postgresql://postgres@127.0.0.1:5432/kappacat"
    """Admin connection (migrations, publishing from the command line)."""
    read_url: str | None = None
    """Read-only connection for the STAC API and the tiler; defaults to ``url``."""
    read_role: str = "kappacat_read"
    """Login role created by ``kappacat migrate`` with read access to the catalogue."""
    read_password: SecretStr | None = None
    ingest_role: str = "kappacat_ingest"
    """Login role created by ``kappacat migrate`` that may load items and manage jobs."""
    ingest_password: SecretStr | None = None

    @property
    def reader_url(self) -> str:
        """The connection string readers use."""
        return self.read_url or self.url


class StacSchemaSettings(BaseSettings):
    """Offline STAC JSON schemas, from ``KAPPACAT_STAC_*``."""

    model_config = SettingsConfigDict(
        env_prefix="KAPPACAT_STAC_", extra="ignore", use_attribute_docstrings=True
    )

    schemas_dir: Path | None = None
    """A folder with an ``index.json`` mapping schema URLs to files; without it only the
    STAC core schemas that pystac ships are checked."""


class StorageSettings(BaseSettings):
    """Where masks and thumbnails are written, from ``KAPPACAT_STORAGE_*``."""

    model_config = SettingsConfigDict(env_prefix="KAPPACAT_STORAGE_", extra="ignore")

    url: str = ".data/storage"
    """A local directory (a path or ``file://`` URL) or ``s3://bucket/prefix``."""
    public_url: str | None = None
    """Base URL under which readers find the stored files: the hrefs in items are this plus
    the file's key. Local storage defaults to the STAC API's ``/assets`` route
    (``http://127.0.0.1:8081/assets``; serve it with ``KAPPACAT_API_ASSETS_DIR`` set to the same
    directory); S3 defaults to ``s3://bucket/prefix``."""
    s3_endpoint_url: str | None = None
    """S3-compatible endpoint (MinIO, Ceph, moto); AWS when not set. Credentials and region are
    read from the usual ``AWS_*`` variables."""
    s3_region: str | None = None


def with_database(url: str, dbname: str) -> str:
    """The same connection string pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def redact(url: str) -> str:
    """A connection string safe to print: the password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

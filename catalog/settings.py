"""Settings shared by every component: the database and who connects to it, the storage."""

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


class KappacatSettings(BaseSettings):
    """Base of every KappaCat settings class: read from ``KAPPACAT_*`` environment variables
    (each subclass names its prefix), every field documented by its attribute docstring or
    its ``description``, which ``.env.example`` and the tests take them from."""

    model_config = SettingsConfigDict(extra="ignore", use_attribute_docstrings=True)


class DatabaseSettings(KappacatSettings):
    """The catalogue database (PostgreSQL + PostGIS + pgstac), from ``KAPPACAT_DATABASE_*``."""

    model_config = SettingsConfigDict(env_prefix="KAPPACAT_DATABASE_")

    url: str = "postgresql://postgres@127.0.0.1:5432/kappacat"
    """Admin connection (migrations, publishing from the command line)."""
    read_url: str | None = None
    """Read-only connection for the STAC API and the tiler; defaults to ``url``."""
    read_role: str = "kappacat_read"
    """Login role created by ``kappacat migrate`` with read access to the catalogue."""
    read_password: SecretStr | None = None
    """Password ``kappacat migrate`` gives the read role (none: it cannot log in by password)."""
    ingest_role: str = "kappacat_ingest"
    """Login role created by ``kappacat migrate`` that may load items and manage jobs."""
    ingest_password: SecretStr | None = None
    """Password ``kappacat migrate`` gives the ingest role (none: it cannot log in by password)."""

    @property
    def reader_url(self) -> str:
        """The connection string readers use."""
        return self.read_url or self.url


class StacSchemaSettings(KappacatSettings):
    """Offline STAC JSON schemas, from ``KAPPACAT_STAC_*``."""

    model_config = SettingsConfigDict(env_prefix="KAPPACAT_STAC_")

    schemas_dir: Path | None = None
    """A folder with an ``index.json`` mapping schema URLs to files; without it only the
    STAC core schemas that pystac ships are checked."""


DEFAULT_LOCAL_PUBLIC_URL = "http://127.0.0.1:8081/assets"
"""The STAC API's ``/assets`` route on its default port, which serves local storage."""
DEFAULT_TILER_URL = "http://127.0.0.1:8082"
"""The tiler on its default port (``kappacat serve tiler``)."""


class StorageSettings(KappacatSettings):
    """Where masks and thumbnails are kept, from ``KAPPACAT_STORAGE_*``.

    Shared by every component: the worker writes there, the STAC API serves local storage
    under ``/assets``, and the tiler reads masks from there.
    """

    model_config = SettingsConfigDict(env_prefix="KAPPACAT_STORAGE_")

    url: str = ".data/storage"
    """A local directory (a path or ``file://`` URL) or ``s3://bucket/prefix``."""
    public_url: str | None = None
    """Base URL under which readers find the stored files: the hrefs in items are this plus
    the file's key. Local storage defaults to the STAC API's ``/assets`` route on its default
    port (``http://127.0.0.1:8081/assets``); S3 defaults to ``s3://bucket/prefix``."""
    s3_endpoint_url: str | None = None
    """S3-compatible endpoint (MinIO, Ceph, moto); AWS when not set. Credentials and region are
    read from the usual ``AWS_*`` variables."""
    s3_region: str | None = None
    """Region of the S3 bucket (``AWS_REGION`` or the endpoint's default when not set)."""

    def local_directory(self) -> Path | None:
        """The storage directory, absolute, when storage is local (None for object storage)."""
        parts = urlsplit(self.url)
        if parts.scheme == "file":
            return Path(parts.path).expanduser().resolve()
        if parts.scheme == "":
            return Path(self.url).expanduser().resolve()
        return None

    @property
    def public_base(self) -> str:
        """The base of the hrefs written into items, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        if self.local_directory() is not None:
            return DEFAULT_LOCAL_PUBLIC_URL
        return self.url.rstrip("/")


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

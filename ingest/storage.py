"""Where masks and thumbnails are kept: a local directory or S3-compatible object storage.

One small interface over obstore, which writes atomically on both (a local file appears under
its name only once complete; an S3 object only once its upload is complete), so an object
that exists is always whole.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import LocalStore, S3Store

from catalog.settings import StorageSettings
from ingest.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from obstore.store import S3Config


class Storage:
    """Put files under keys, ask for their size, and say the public href of a key."""

    def __init__(self, store: LocalStore | S3Store, public_url: str, description: str) -> None:
        self.store = store
        self.public_url = public_url.rstrip("/")
        self.description = description

    def __repr__(self) -> str:
        return f"Storage({self.description})"

    def href(self, key: str) -> str:
        """The URL under which readers (API users, the tiler) find the object ``key``."""
        return f"{self.public_url}/{quote(key)}"

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> int:
        """Store a local file under ``key`` (replacing it); returns its size in bytes."""
        size = path.stat().st_size
        try:
            if content_type and isinstance(self.store, S3Store):
                obstore.put(self.store, key, path, attributes={"Content-Type": content_type})
            else:  # a local file has no attributes: its type comes from its name
                obstore.put(self.store, key, path)
        except (BaseError, OSError, NotImplementedError) as exc:
            raise StorageError(f"{self.description}: cannot store {key}: {exc}") from exc
        return size

    def size(self, key: str) -> int | None:
        """The size of the object ``key``, None if there is none."""
        try:
            meta = obstore.head(self.store, key)
        except FileNotFoundError:
            return None
        except NotFoundError:
            return None
        except (BaseError, OSError) as exc:
            raise StorageError(f"{self.description}: cannot look at {key}: {exc}") from exc
        return int(meta["size"])

    def read(self, key: str) -> bytes:
        """The whole object ``key``."""
        try:
            return bytes(obstore.get(self.store, key).bytes())
        except (BaseError, OSError) as exc:
            raise StorageError(f"{self.description}: cannot read {key}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Remove the object ``key`` if it exists."""
        try:
            obstore.delete(self.store, key)
        except (FileNotFoundError, NotFoundError):
            return
        except (BaseError, OSError) as exc:
            raise StorageError(f"{self.description}: cannot delete {key}: {exc}") from exc


def open_storage(settings: StorageSettings | None = None) -> Storage:
    """The storage named by ``KAPPACAT_STORAGE_URL`` (a local directory unless ``s3://``)."""
    settings = settings or StorageSettings()
    parts = urlsplit(settings.url)
    if parts.scheme == "s3":
        bucket, prefix = parts.netloc, parts.path.strip("/")
        if not bucket:
            raise ConfigError(f"KAPPACAT_STORAGE_URL {settings.url!r} names no bucket")
        config: S3Config = {}
        if settings.s3_endpoint_url:
            config["endpoint"] = settings.s3_endpoint_url
        if settings.s3_region:
            config["region"] = settings.s3_region
        http = bool(settings.s3_endpoint_url and settings.s3_endpoint_url.startswith("http:"))
        store = S3Store(
            bucket,
            prefix=prefix or None,
            config=config,
            client_options={"allow_http": http, "timeout": "120s", "connect_timeout": "10s"},
            retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=60)},
        )
        return Storage(store, settings.public_base, settings.url)
    root = settings.local_directory()
    if root is None:
        raise ConfigError(
            f"KAPPACAT_STORAGE_URL {settings.url!r}: use a directory, file:// or s3://"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"storage directory {root}: {exc}") from exc
    local = LocalStore(root, mkdir=True)
    return Storage(local, settings.public_base, str(root))

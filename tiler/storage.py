"""Which files the tiler may read: only mask COGs under the configured storage roots."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from catalog.settings import StorageSettings
from tiler.errors import AssetNotAllowed

MASK_ASSET = "mask"


def _is_url(text: str) -> bool:
    scheme = urlsplit(text).scheme
    return len(scheme) > 1 and scheme != "file"  # "C:" is a drive, not a scheme


def _local_path(href: str) -> str | None:
    """The local path of ``href`` (plain path or ``file://`` URL), or None for remote URLs."""
    parts = urlsplit(href)
    if parts.scheme == "file":
        return unquote(parts.path)
    if _is_url(href):
        return None
    return href


@lru_cache(maxsize=4096)
def _realpath(path: str, _minute: int) -> Path:
    """``path`` with symlinks and ``..`` resolved, remembered for a minute at most."""
    return Path(path).resolve()


def _slash(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"


@dataclass(frozen=True)
class StorageRoots:
    """Local directories and URL prefixes under which assets may be read.

    A root ``PREFIX=DIRECTORY`` says that the files behind a URL prefix are also in a local
    directory (the STAC API's ``/assets`` route and the folder it serves): hrefs under the
    prefix are read from the directory, not over HTTP.
    """

    directories: tuple[Path, ...]
    prefixes: tuple[str, ...]
    mapped: tuple[tuple[str, Path], ...] = ()

    @classmethod
    def of_storage(cls, storage: StorageSettings) -> StorageRoots:
        """The roots that reach what the pipeline wrote to ``storage``: the storage location,
        and its public URL (read from the directory behind it when storage is local)."""
        local = storage.local_directory()
        if local is not None:
            return cls.from_settings([str(local), f"{storage.public_base}={local}"])
        roots = [storage.url]
        if storage.public_base != storage.url.rstrip("/"):
            roots.append(storage.public_base)
        return cls.from_settings(roots)

    @classmethod
    def from_settings(cls, roots: Sequence[str]) -> StorageRoots:
        """Split the configured roots into resolved directories and normalised URL prefixes."""
        directories: list[Path] = []
        prefixes: list[str] = []
        mapped: list[tuple[str, Path]] = []
        for root in roots:
            prefix, equals, directory = root.partition("=")
            if equals and _is_url(prefix) and _local_path(directory) is not None:
                local = Path(str(_local_path(directory))).expanduser().resolve()
                mapped.append((_slash(prefix), local))
                directories.append(local)
                continue
            local_root = _local_path(root)
            if local_root is None:
                prefixes.append(_slash(root))
            else:
                directories.append(Path(local_root).expanduser().resolve())
        return cls(tuple(directories), tuple(prefixes), tuple(mapped))

    def resolve(self, href: str, what: str) -> str:
        """The path or URL to open for ``href``; :class:`AssetNotAllowed` if it is outside."""
        local = _local_path(href)
        if local is not None:
            return self._local(href, local, what)
        parts = urlsplit(href)
        segments = unquote(parts.path).split("/")
        if ".." in segments or "." in segments or parts.query or parts.fragment:
            raise AssetNotAllowed(f"{what}: asset URL {href!r} is not in canonical form")
        for prefix, directory in self.mapped:
            if href.startswith(prefix):
                return self._local(href, str(directory / unquote(href[len(prefix) :])), what)
        if any(href.startswith(p) for p in self.prefixes):
            return href
        raise AssetNotAllowed(f"{what}: asset {href!r} is outside the storage roots")

    def _local(self, href: str, local: str, what: str) -> str:
        if not Path(local).is_absolute():
            raise AssetNotAllowed(f"{what}: relative asset path {href!r} is not served")
        resolved = _realpath(local, int(time.monotonic() // 60))  # symlinks, ".."
        if any(resolved.is_relative_to(d) for d in self.directories):
            return str(resolved)
        raise AssetNotAllowed(f"{what}: asset {href!r} is outside the storage roots")

    def mask_href(self, item: dict[str, Any]) -> str:
        """The readable location of an item's ``mask`` asset."""
        what = f"item {item.get('collection')}/{item.get('id')}"
        asset = (item.get("assets") or {}).get(MASK_ASSET)
        if not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
            raise AssetNotAllowed(f"{what} has no {MASK_ASSET!r} asset")
        return self.resolve(asset["href"], what)

"""Which files the tiler may read: only mask COGs under the configured storage roots."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

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


@dataclass(frozen=True)
class StorageRoots:
    """Local directories and URL prefixes under which assets may be read."""

    directories: tuple[Path, ...]
    prefixes: tuple[str, ...]

    @classmethod
    def from_settings(cls, roots: Sequence[str]) -> StorageRoots:
        """Split the configured roots into resolved directories and normalised URL prefixes."""
        directories: list[Path] = []
        prefixes: list[str] = []
        for root in roots:
            local = _local_path(root)
            if local is None:
                prefixes.append(root if root.endswith("/") else root + "/")
            else:
                directories.append(Path(local).expanduser().resolve())
        return cls(tuple(directories), tuple(prefixes))

    def resolve(self, href: str, what: str) -> str:
        """The path or URL to open for ``href``; :class:`AssetNotAllowed` if it is outside."""
        local = _local_path(href)
        if local is not None:
            path = Path(local)
            if not path.is_absolute():
                raise AssetNotAllowed(f"{what}: relative asset path {href!r} is not served")
            resolved = _realpath(local, int(time.monotonic() // 60))  # symlinks, ".."
            if any(resolved.is_relative_to(d) for d in self.directories):
                return str(resolved)
            raise AssetNotAllowed(f"{what}: asset {href!r} is outside the storage roots")
        parts = urlsplit(href)
        segments = unquote(parts.path).split("/")
        if ".." in segments or "." in segments or parts.query or parts.fragment:
            raise AssetNotAllowed(f"{what}: asset URL {href!r} is not in canonical form")
        if any(href.startswith(p) for p in self.prefixes):
            return href
        raise AssetNotAllowed(f"{what}: asset {href!r} is outside the storage roots")

    def mask_href(self, item: dict[str, Any]) -> str:
        """The readable location of an item's ``mask`` asset."""
        what = f"item {item.get('collection')}/{item.get('id')}"
        asset = (item.get("assets") or {}).get(MASK_ASSET)
        if not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
            raise AssetNotAllowed(f"{what} has no {MASK_ASSET!r} asset")
        return self.resolve(asset["href"], what)

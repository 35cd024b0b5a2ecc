"""What ``kappacat ingest`` accepts: SAFE directories, zips, STAC items (files or URLs), folders.

Submission only needs a product id and a place to read the product from; whether the product
is usable is for the fetch stage to find out, so that a bad one becomes a failed job with a
message rather than a refused command.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import URLError

from catalog_api.collections import L1C, L2A
from ingest.errors import SourceError
from ingest.pipeline import SourceRef

HTTP_TIMEOUT_S = 30.0
PRODUCT_TYPES = {"S2MSI1C": L1C, "S2MSI2A": L2A}


def collection_for(product_id: str, properties: dict[str, Any] | None = None) -> str | None:
    """The mask collection a product belongs in, when its id or properties tell."""
    props = properties or {}
    product_type = str(props.get("s2:product_type") or "").upper()
    if product_type in PRODUCT_TYPES:
        return PRODUCT_TYPES[product_type]
    hints = f"{product_id} {props.get('processing:level') or ''}".upper()
    if "L2A" in hints:
        return L2A
    if "L1C" in hints:
        return L1C
    return None


def _product_name(path: Path) -> str:
    name = path.name
    for suffix in (".zip", ".SAFE"):
        name = name.removesuffix(suffix)
    return name


def _self_href(item: dict[str, Any]) -> str | None:
    for link in item.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "self" and link.get("href"):
            return str(link["href"])
    return None


def _item_refs(doc: Any, where: str, *, standalone: bool) -> Iterator[SourceRef]:
    """Refs of a STAC item (``where`` is its location) or of an item collection's items."""
    if not isinstance(doc, dict):
        raise SourceError(f"{where}: not a STAC item (not a JSON object)")
    if doc.get("type") == "FeatureCollection":
        for n, item in enumerate(doc.get("features") or [], start=1):
            href = _self_href(item) if isinstance(item, dict) else None
            if not href:
                raise SourceError(
                    f"{where}: item {n} of the collection has no self link; "
                    "give each item as its own file or URL"
                )
            yield from _item_refs(item, href, standalone=True)
        return
    if doc.get("type") != "Feature" or not doc.get("id"):
        raise SourceError(f'{where}: not a STAC item (no "type": "Feature" with an id)')
    source = where if standalone else (_self_href(doc) or where)
    yield SourceRef(str(doc["id"]), source, collection_for(str(doc["id"]), doc.get("properties")))


def read_url(url: str, timeout: float = HTTP_TIMEOUT_S) -> Any:
    """The JSON document at ``url``."""
    request = urllib.request.Request(url, headers={"Accept": "application/geo+json, */*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except (URLError, OSError, ValueError) as exc:
        raise SourceError(f"{url}: cannot read a STAC item: {exc}") from exc


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"{path}: cannot read a STAC item: {exc}") from exc


def _looks_like_item(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b'"Feature"' in head or b'"stac_version"' in head


def scan(folder: Path) -> Iterator[SourceRef]:
    """Products under a folder (a mounted archive): SAFE dirs, zips and STAC item files."""
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        here = Path(root)
        for name in [d for d in dirs if d.endswith(".SAFE")]:
            dirs.remove(name)
            yield _file_ref(here / name)
        for name in sorted(files):
            path = here / name
            if name.endswith(".zip"):
                yield _file_ref(path)
            elif name.endswith((".json", ".geojson")) and _looks_like_item(path):
                try:
                    yield from _item_refs(_json_file(path), str(path), standalone=True)
                except SourceError:
                    continue  # some other JSON file in the archive, not an item


def _file_ref(path: Path) -> SourceRef:
    product_id = _product_name(path)
    return SourceRef(product_id, str(path.resolve()), collection_for(product_id))


def expand(source: str) -> Iterator[SourceRef]:
    """The products one ``kappacat ingest`` argument names."""
    if source.startswith(("http://", "https://")):
        yield from _item_refs(read_url(source), source, standalone=True)
        return
    path = Path(source).expanduser()
    if not path.exists():
        raise SourceError(f"{source}: no such file or directory")
    if path.is_dir():
        if path.name.endswith(".SAFE"):
            yield _file_ref(path)
        else:
            yield from scan(path)
        return
    if path.suffix == ".zip":
        yield _file_ref(path)
    elif path.suffix in (".json", ".geojson"):
        yield from _item_refs(_json_file(path), str(path.resolve()), standalone=True)
    else:
        raise SourceError(
            f"{source}: not a SAFE directory, a zip, a STAC item (.json) or a folder to scan"
        )

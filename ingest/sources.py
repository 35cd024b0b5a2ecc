"""What ``kappacat ingest`` accepts: SAFE directories, zips, STAC items (files or URLs), folders.

Submission only needs a product id and a place to read the product from; whether the product
is usable is for the fetch stage to find out, so that a bad one becomes a failed job with a
message rather than a refused command. The id is the product's own (what its metadata calls
it), whatever its file is named: a job is unique per product and model, so the same product
submitted again under another file name is the same job.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import URLError

from catalog.collections import COLLECTION_FOR_LEVEL
from inference.conventions import product_level
from inference.readers.safe_xml import MTD_NAMES, MetadataError, product_id
from ingest.errors import SourceError
from ingest.pipeline import SourceRef

log = logging.getLogger(__name__)
HTTP_TIMEOUT_S = 30.0


def collection_for(product_id: str, properties: dict[str, Any] | None = None) -> str | None:
    """The mask collection a product belongs in, when its id or properties tell."""
    props = properties or {}
    product_type = props.get("s2:product_type") or props.get("product:type")
    level = product_level(product_type, product_id, props.get("processing:level"))
    return COLLECTION_FOR_LEVEL.get(level) if level else None


def _bare_name(name: str) -> str:
    for suffix in (".zip", ".SAFE"):
        name = name.removesuffix(suffix)
    return name


def _zip_product_id(path: Path) -> str | None:
    """The id of the product in a SAFE zip: its MTD's PRODUCT_URI, else its .SAFE folder."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        roots = sorted({n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".SAFE")})
        if not roots:
            return None
        for mtd in (f"{roots[0]}/{m}" for m in MTD_NAMES):
            if mtd in names:
                try:
                    return product_id(archive.read(mtd), mtd)
                except MetadataError as exc:
                    log.warning("%s: %s; named after its folder %s", path, exc, roots[0])
        return _bare_name(roots[0])


def _dir_product_id(path: Path) -> str | None:
    """The id of a SAFE directory's product: its MTD's PRODUCT_URI."""
    for name in MTD_NAMES:
        mtd = path / name
        if mtd.is_file():
            try:
                return product_id(mtd.read_bytes(), name)
            except MetadataError as exc:
                log.warning("%s: %s; named after the directory", path, exc)
    return None


def safe_product_id(path: Path) -> str:
    """A SAFE product's own id, whatever its file or folder is called.

    The PRODUCT_URI of its metadata; else the name of its .SAFE folder (inside a zip, the
    folder the zip holds); else the file's name, and the fetch stage will say what is wrong
    with the product.
    """
    try:
        found = _zip_product_id(path) if path.is_file() else _dir_product_id(path)
    except (OSError, zipfile.BadZipFile) as exc:
        log.warning("%s: cannot read the product's own name (%s); named after the file", path, exc)
        found = None
    return found or _bare_name(path.name)


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
    name = safe_product_id(path)
    return SourceRef(name, str(path.resolve()), collection_for(name))


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

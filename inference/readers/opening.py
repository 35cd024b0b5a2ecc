"""``open_product``: the reader for a SAFE directory, a SAFE zip or a STAC item."""

from __future__ import annotations

import zipfile
from pathlib import Path

from inference.errors import ProductError
from inference.readers.base import ProductReader
from inference.readers.safe import DirFiles, SafeReader, ZipFiles, looks_like_zip
from inference.readers.stac import StacReader, is_stac_source
from inference.settings import SourceSettings


def open_product(
    source: str | Path, *, check_jp2: bool = True, sources: SourceSettings | None = None
) -> ProductReader:
    """Open a product: a ``.SAFE`` directory (or a file in it), a SAFE ``.zip``, or a STAC item.

    ``sources`` configures how providers' files are reached (default: from the environment).
    Raises :class:`~inference.errors.ProductError` when the source is not a readable
    Sentinel-2 L1C or L2A product.
    """
    text = str(source)
    if is_stac_source(text):
        return StacReader(text, sources)
    path = Path(text)
    if not path.exists():
        raise ProductError(path.name or text, f"no such file or directory: {text}")
    if path.is_file() and path.name in ("manifest.safe", "MTD_MSIL1C.xml", "MTD_MSIL2A.xml"):
        path = path.parent
    if path.is_dir():
        return SafeReader(DirFiles(path), check_jp2=check_jp2)
    if looks_like_zip(path) and not zipfile.is_zipfile(path):
        raise ProductError(
            path.name,
            "corrupt archive: the zip file is truncated or damaged (no readable central "
            "directory); download it again",
        )
    if zipfile.is_zipfile(path):
        files = ZipFiles(path)
        try:
            return SafeReader(files, check_jp2=check_jp2)
        except BaseException:
            files.close()
            raise
    raise ProductError(
        path.name, "unknown product type: not a SAFE directory, a SAFE zip or a STAC item"
    )

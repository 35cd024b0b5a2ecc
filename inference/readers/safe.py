"""SAFE products: a ``.SAFE`` directory or a ``.zip`` of one (read through GDAL's /vsizip/)."""

from __future__ import annotations

import logging
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

import rasterio
from rasterio.crs import CRS

from inference.bands import SCL
from inference.errors import ProductError
from inference.footprint import Footprint
from inference.grid import Grid
from inference.jp2 import jp2_problem
from inference.product import ProductInfo
from inference.readers.base import READ_ERRORS, BandFile, ProductReader, gdal_options
from inference.readers.safe_xml import (
    MTD_NAMES,
    MetadataError,
    ProductMetadata,
    TileMetadata,
    parse_product_metadata,
    parse_tile_metadata,
)

log = logging.getLogger(__name__)
_EXTENSIONS = (".jp2", ".tif", ".TIF", ".JP2")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)
"""What reading a damaged zip raises (bad CRC, bad deflate stream, cut short)."""


def looks_like_zip(path: Path) -> bool:
    """Whether a file is named or starts like a zip archive (whole or not)."""
    if path.suffix.lower() == ".zip":
        return True
    try:
        with path.open("rb") as f:
            return f.read(4) in _ZIP_MAGIC
    except OSError:
        return False


class SafeFiles:
    """Files of a SAFE product, by path relative to the SAFE root."""

    name: str

    def names(self) -> list[str]:
        """Every file, relative to the root."""
        raise NotImplementedError

    def read_bytes(self, rel: str) -> bytes:
        """A file's content."""
        raise NotImplementedError

    def open_binary(self, rel: str) -> tuple[IO[bytes], int]:
        """A seekable binary stream of a file, and its size."""
        raise NotImplementedError

    def gdal_path(self, rel: str) -> str:
        """The path GDAL opens the file with."""
        raise NotImplementedError


class DirFiles(SafeFiles):
    """A SAFE directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = root.name

    def names(self) -> list[str]:
        return [p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()]

    def read_bytes(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def open_binary(self, rel: str) -> tuple[IO[bytes], int]:
        path = self.root / rel
        return path.open("rb"), path.stat().st_size

    def gdal_path(self, rel: str) -> str:
        return str(self.root / rel)


class ZipFiles(SafeFiles):
    """A zip holding one ``*.SAFE`` directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        try:
            self.zip = zipfile.ZipFile(path)
        except ARCHIVE_ERRORS as exc:
            raise ProductError(path.name, f"corrupt archive: {exc}") from exc
        except OSError as exc:
            raise ProductError(path.name, f"cannot read the zip file: {exc}") from exc
        roots = {n.split("/", 1)[0] for n in self.zip.namelist() if "/" in n}
        safe_roots = sorted(r for r in roots if r.upper().endswith(".SAFE"))
        if not safe_roots:
            self.zip.close()
            raise ProductError(path.name, "zip file does not contain a .SAFE product directory")
        self.prefix = safe_roots[0] + "/"
        self._infos = {
            i.filename[len(self.prefix) :]: i
            for i in self.zip.infolist()
            if i.filename.startswith(self.prefix) and not i.is_dir()
        }

    def names(self) -> list[str]:
        return list(self._infos)

    def read_bytes(self, rel: str) -> bytes:
        return self.zip.read(self._infos[rel])

    def open_binary(self, rel: str) -> tuple[IO[bytes], int]:
        info = self._infos[rel]
        return self.zip.open(info), info.file_size

    def gdal_path(self, rel: str) -> str:
        return f"/vsizip/{self.path.resolve()}/{self.prefix}{rel}"

    def close(self) -> None:
        self.zip.close()


class SafeReader(ProductReader):
    """Reads an L1C or L2A SAFE product of any processing baseline."""

    def __init__(self, files: SafeFiles, *, check_jp2: bool = True) -> None:
        self.store = files
        self.check_jp2 = check_jp2
        names = set(files.names())
        self._names = names
        self._relative: dict[str, str] = {}
        mtd = next((n for n in MTD_NAMES if n in names), None)
        if mtd is None:
            kind = "a SAFE product" if "manifest.safe" in names else "not a SAFE product"
            raise ProductError(
                files.name, f"unknown product type: {kind} without MTD_MSIL1C.xml or MTD_MSIL2A.xml"
            )
        try:
            meta = parse_product_metadata(files.read_bytes(mtd), mtd)
            tile_mtd = sorted(
                n for n in names if n.startswith("GRANULE/") and n.endswith("/MTD_TL.xml")
            )
            tile = parse_tile_metadata(files.read_bytes(tile_mtd[0])) if tile_mtd else None
        except MetadataError as exc:
            raise ProductError(files.name, str(exc)) from exc
        except ARCHIVE_ERRORS as exc:
            raise ProductError(
                files.name, f"corrupt archive: cannot read the product metadata: {exc}"
            ) from exc
        except (OSError, KeyError) as exc:
            raise ProductError(files.name, f"cannot read the product metadata: {exc}") from exc
        self.name = meta.product_id
        self.meta = meta
        offsets = sorted(set(meta.offsets.values())) or [0.0]
        log.info(
            "%s: SAFE product, baseline %s, DN offset %s from %s",
            meta.product_id,
            meta.processing_baseline,
            "/".join(f"{v:g}" for v in offsets),
            meta.offsets_from,
        )
        self.footprint = Footprint.from_ring(meta.footprint)
        self.files = self._band_files(meta)
        self.grid = self._grid(meta, tile)
        self.info = self._info(meta, tile)
        if not self.footprint_mask().overlaps_grid():
            raise self.fail("the product lies entirely outside its footprint (no valid area)")

    def _band_files(self, meta: ProductMetadata) -> dict[str, list[BandFile]]:
        files: dict[str, list[BandFile]] = {}
        for image in meta.images:
            rel = next(
                (image.path + ext for ext in _EXTENSIONS if image.path + ext in self._names), None
            )
            if rel is None:
                continue  # listed but absent: a missing band, reported when it is needed
            self._relative[self.store.gdal_path(rel)] = rel
            classes = image.band == SCL  # class values, not reflectance
            files.setdefault(image.band, []).append(
                BandFile(
                    band=image.band,
                    path=self.store.gdal_path(rel),
                    resolution=image.resolution,
                    scale=1.0 if classes else 1.0 / meta.quantification,
                    dn_offset=0.0 if classes else meta.offsets.get(image.band, 0.0),
                )
            )
        return files

    def _grid(self, meta: ProductMetadata, tile: TileMetadata | None) -> Grid:
        ten = [f for files in self.files.values() for f in files if f.resolution == 10]
        ref = (
            ten[0]
            if ten
            else min(
                (f for fs in self.files.values() for f in fs),
                default=None,
                key=lambda f: f.resolution,
            )
        )
        if ref is None:
            raise self.fail("no band image files found")
        try:
            with rasterio.Env(**gdal_options()), rasterio.open(ref.path) as ds:
                self.check_shape(ref, ds.width, ds.height, abs(ds.transform.a))
                grid = Grid.from_dataset(ds.crs, ds.transform, ds.width, ds.height)
        except READ_ERRORS as exc:
            problem = f"cannot open band {ref.band} ({ref.path}): {exc}"
            raise self.read_failed(problem, exc) from exc
        if grid.crs is None and tile is not None:
            grid = Grid(
                CRS.from_epsg(tile.epsg), grid.x0, grid.y0, grid.res, grid.width, grid.height
            )
        return grid.at(10.0) if grid.res != 10.0 else grid

    def _info(self, meta: ProductMetadata, tile: TileMetadata | None) -> ProductInfo:
        mgrs = ""
        for text in (meta.product_id, tile.tile_id if tile else ""):
            parts = [p for p in text.split("_") if len(p) == 6 and p.startswith("T")]
            if parts:
                mgrs = parts[0][1:]
                break
        epsg = tile.epsg if tile else (self.grid.crs.to_epsg() or 0)
        return ProductInfo(
            id=meta.product_id,
            level=meta.level,
            datetime=meta.start,
            footprint=self.footprint.geojson,
            bbox=self.footprint.bbox,
            platform=meta.platform,
            mgrs_tile=mgrs,
            relative_orbit=meta.relative_orbit,
            processing_baseline=meta.processing_baseline,
            epsg=epsg,
            sun_azimuth=tile.sun_azimuth if tile else None,
            sun_elevation=90.0 - tile.sun_zenith if tile and tile.sun_zenith is not None else None,
            href=str(getattr(self.store, "root", getattr(self.store, "path", ""))),
            extra={
                "product_type": meta.product_type,
                "quantification_value": meta.quantification,
                "offsets": dict(meta.offsets),
                "cloud_cover": meta.cloud_cover,
                "orbit_direction": meta.orbit_direction,
                "generation_time": meta.generation_time.isoformat()
                if meta.generation_time
                else None,
                "tile_sensing_time": tile.sensing_time.isoformat()
                if tile and tile.sensing_time
                else None,
                "tile_id": tile.tile_id if tile else None,
                "format": "SAFE",
            },
        )

    def check_bands(self, bands: Iterable[str]) -> None:
        bands = list(bands)
        listed = {i.band for i in self.meta.images}
        for band in bands:
            if band not in listed:
                raise self.fail(f"missing band {band}: not listed in the product metadata")
            if not self.files.get(band):
                raise self.fail(f"missing band {band}: its image file is not in the product")

    def check_files(self, files: Sequence[BandFile]) -> None:
        """Refuse truncated JPEG 2000 band files before any pixel is decoded."""
        if not self.check_jp2:
            return
        for file in files:
            rel = self._relative[file.path]
            if not rel.lower().endswith(".jp2"):
                continue
            try:
                stream, size = self.store.open_binary(rel)
                with stream:
                    problem = jp2_problem(stream, size)
            except ARCHIVE_ERRORS as exc:
                problem = f"corrupt archive: {exc}"
            if problem:
                name = PurePosixPath(rel).name
                raise self.fail(f"band {file.band} file {name} is broken: {problem}")

    def close(self) -> None:
        if isinstance(self.store, ZipFiles):
            self.store.close()

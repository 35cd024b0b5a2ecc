"""Parsing of SAFE product metadata (``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml``, ``MTD_TL.xml``).

Pure functions of the XML bytes, so they are tested on the real metadata of three products
(L1C baseline 03.01, L2A 04.00 and 05.09).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from inference.bands import BANDS, SCL, band_id, resolution_suffix
from inference.conventions import (
    RADIOMETRIC_OFFSET_DN,
    has_radiometric_offset,
    level_of_product_type,
)

MTD_NAMES = ("MTD_MSIL1C.xml", "MTD_MSIL2A.xml")
"""The product metadata file of an L1C or L2A SAFE, at its root."""
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class MetadataError(ValueError):
    """The XML is not the metadata of a supported Sentinel-2 product."""


@dataclass(frozen=True)
class ImageFile:
    """One band image listed in the product metadata."""

    band: str  # canonical band id, or "SCL" for the scene classification of L2A products
    path: str  # relative to the SAFE root, without extension
    resolution: int  # metres (the file's own, e.g. 20 for L2A's B02_20m)


@dataclass(frozen=True)
class ProductMetadata:
    """What the product-level MTD file says."""

    product_id: str
    level: str  # "L1C" or "L2A"
    product_type: str
    processing_baseline: str
    start: datetime
    platform: str  # "sentinel-2a"
    relative_orbit: int
    orbit_direction: str | None
    quantification: float
    offsets: dict[str, float]  # band id -> additive DN offset (RADIO_/BOA_ADD_OFFSET)
    offsets_from: str  # where the offsets came from, for the log
    images: list[ImageFile]
    footprint: list[tuple[float, float]]  # (lon, lat) ring
    cloud_cover: float | None = None
    generation_time: datetime | None = None
    image_format: str | None = None


@dataclass(frozen=True)
class TileMetadata:
    """What the granule's ``MTD_TL.xml`` says."""

    tile_id: str
    epsg: int
    sensing_time: datetime | None
    sun_zenith: float | None
    sun_azimuth: float | None
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # res -> (rows, cols)
    origins: dict[int, tuple[float, float]] = field(default_factory=dict)  # res -> (ulx, uly)


def _parse(data: bytes, what: str) -> etree._Element:
    try:
        return etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise MetadataError(f"{what} is not well-formed XML: {exc}") from exc


def _text(root: etree._Element, name: str) -> str | None:
    for element in root.iter(f"{{*}}{name}"):
        if element.text and element.text.strip():
            return element.text.strip()
    return None


def _required(root: etree._Element, name: str, what: str) -> str:
    value = _text(root, name)
    if value is None:
        raise MetadataError(f"{what} has no {name}")
    return value


def parse_time(value: str) -> datetime:
    """An ISO 8601 time of the metadata ("2021-09-08T04:27:01.024Z") as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _product_id(root: etree._Element, what: str) -> str:
    return _required(root, "PRODUCT_URI", what).removesuffix(".SAFE")


def product_id(data: bytes, what: str = "MTD") -> str:
    """The product's own id: PRODUCT_URI of ``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml``, no .SAFE."""
    return _product_id(_parse(data, what), what)


def parse_product_metadata(data: bytes, what: str = "MTD") -> ProductMetadata:
    """Parse ``MTD_MSIL1C.xml`` or ``MTD_MSIL2A.xml``."""
    root = _parse(data, what)
    product_type = _text(root, "PRODUCT_TYPE") or ""
    level = level_of_product_type(product_type)
    if level is None:
        processing = _text(root, "PROCESSING_LEVEL") or "unknown"
        raise MetadataError(
            f"unknown product type {product_type or '(none)'} ({processing}); "
            "only Sentinel-2 MSI L1C (S2MSI1C) and L2A (S2MSI2A) are supported"
        )
    uri = _product_id(root, what)
    baseline = _required(root, "PROCESSING_BASELINE", what)
    quant_name = "QUANTIFICATION_VALUE" if level == "L1C" else "BOA_QUANTIFICATION_VALUE"
    quantification = float(_required(root, quant_name, what))
    offset_name = "RADIO_ADD_OFFSET" if level == "L1C" else "BOA_ADD_OFFSET"
    offsets: dict[str, float] = {}
    for element in root.iter(f"{{*}}{offset_name}"):
        index = int(element.get("band_id", "-1"))
        if 0 <= index < len(BANDS) and element.text:
            offsets[BANDS[index].id] = float(element.text)
    offsets_from = f"{offset_name} in {what}"
    if not offsets:
        if has_radiometric_offset(baseline):
            offsets = {b.id: RADIOMETRIC_OFFSET_DN for b in BANDS}
            offsets_from = f"the baseline 04.00 rule ({what} lists no {offset_name})"
        else:
            offsets_from = f"none before baseline 04.00 ({baseline})"
    granule = next(root.iter("{*}Granule"), None)
    cloud = _text(root, "Cloud_Coverage_Assessment")
    generated = _text(root, "GENERATION_TIME")
    return ProductMetadata(
        product_id=uri,
        level=level,
        product_type=product_type,
        processing_baseline=baseline,
        start=parse_time(_required(root, "PRODUCT_START_TIME", what)),
        platform=_required(root, "SPACECRAFT_NAME", what).lower(),
        relative_orbit=int(_required(root, "SENSING_ORBIT_NUMBER", what)),
        orbit_direction=_text(root, "SENSING_ORBIT_DIRECTION"),
        quantification=quantification,
        offsets=offsets,
        offsets_from=offsets_from,
        images=_images(root),
        footprint=_footprint(_required(root, "EXT_POS_LIST", what)),
        cloud_cover=float(cloud) if cloud else None,
        generation_time=parse_time(generated) if generated else None,
        image_format=granule.get("imageFormat") if granule is not None else None,
    )


def _images(root: etree._Element) -> list[ImageFile]:
    images = []
    for element in root.iter("{*}IMAGE_FILE"):
        path = (element.text or "").strip()
        name = path.rsplit("/", 1)[-1]
        match = re.search(r"_(B\d{2}|B8A|SCL)(_\d+m)?$", name)
        if not match:
            continue  # TCI, AOT, WVP
        band = SCL if match.group(1) == SCL else band_id(match.group(1))
        if band is None:
            continue
        res = resolution_suffix(name) or next((b.resolution for b in BANDS if b.id == band), 20)
        images.append(ImageFile(band, path, res))
    return images


def _footprint(text: str) -> list[tuple[float, float]]:
    values = [float(v) for v in text.split()]
    if len(values) < 8 or len(values) % 2:
        raise MetadataError("EXT_POS_LIST is not a list of latitude/longitude pairs")
    return [(values[i + 1], values[i]) for i in range(0, len(values), 2)]


def parse_tile_metadata(data: bytes, what: str = "MTD_TL") -> TileMetadata:
    """Parse a granule's ``MTD_TL.xml``."""
    root = _parse(data, what)
    code = _required(root, "HORIZONTAL_CS_CODE", what)
    match = re.search(r"(\d+)$", code)
    if not match:
        raise MetadataError(f"{what}: unexpected HORIZONTAL_CS_CODE {code}")
    sizes: dict[int, tuple[int, int]] = {}
    for element in root.iter("{*}Size"):
        res = int(element.get("resolution", "0"))
        rows, cols = _text(element, "NROWS"), _text(element, "NCOLS")
        if res and rows and cols:
            sizes[res] = (int(rows), int(cols))
    origins: dict[int, tuple[float, float]] = {}
    for element in root.iter("{*}Geoposition"):
        res = int(element.get("resolution", "0"))
        ulx, uly = _text(element, "ULX"), _text(element, "ULY")
        if res and ulx and uly:
            origins[res] = (float(ulx), float(uly))
    zenith = azimuth = None
    mean = next(root.iter("{*}Mean_Sun_Angle"), None)
    if mean is not None:
        zen, azi = _text(mean, "ZENITH_ANGLE"), _text(mean, "AZIMUTH_ANGLE")
        zenith = float(zen) if zen else None
        azimuth = float(azi) if azi else None
    sensing = _text(root, "SENSING_TIME")
    return TileMetadata(
        tile_id=_text(root, "TILE_ID") or "",
        epsg=int(match.group(1)),
        sensing_time=parse_time(sensing) if sensing else None,
        sun_zenith=zenith,
        sun_azimuth=azimuth,
        sizes=sizes,
        origins=origins,
    )

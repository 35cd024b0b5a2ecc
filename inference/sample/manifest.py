"""The SAFE ``manifest.safe``: package map, acquisition metadata, every file and its checksum."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from inference.sample.context import ProductContext
from inference.sample.safe_xml import iso


@dataclass(frozen=True)
class DataObject:
    """One file of the product as the manifest lists it."""

    object_id: str
    relpath: str  # relative to the SAFE directory
    mime: str


def sha3_256(path: Path) -> str:
    """The SHA3-256 hex digest of a file, as the manifest records it."""
    digest = hashlib.sha3_256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def manifest(ctx: ProductContext, safe_dir: Path, objects: list[DataObject]) -> str:
    """The manifest XML for the files already written under ``safe_dir``."""
    level = ctx.spec.level
    acq = ctx.acq
    kind = f"archive_{level.lower()}_user_product"
    units = "\n".join(
        f'                <xfdu:contentUnit ID="{o.object_id.removesuffix("_Data")}_Unit" '
        f'unitType="{"Metadata Unit" if o.mime == "text/xml" else "Measurement Data Unit"}">\n'
        f'                    <dataObjectPointer dataObjectID="{o.object_id}"/>\n'
        f"                </xfdu:contentUnit>"
        for o in objects
    )
    data = "\n".join(_data_object(safe_dir, o) for o in objects)
    footprint = " ".join(f"{lat!r} {lon!r}" for lon, lat in ctx.footprint_lonlat()[::-1])
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<xfdu:XFDU xmlns:gml="http://www.opengis.net/gml" \
xmlns:safe="http://www.esa.int/safe/sentinel/1.1" xmlns:xfdu="urn:ccsds:schema:xfdu:1" \
version="esa/safe/sentinel/1.1/sentinel-2/msi/{kind}">
    <informationPackageMap>
        <xfdu:contentUnit dmdID="acquisitionPeriod platform" pdiID="processing" \
textInfo="SENTINEL-2 MSI Level-{level[1:]} User Product" unitType="Product_Level-{level[1:]}">
            <xfdu:contentUnit ID="Tiles" textInfo="Tiles Container">
{units}
            </xfdu:contentUnit>
        </xfdu:contentUnit>
    </informationPackageMap>
    <metadataSection>
        <metadataObject ID="acquisitionPeriod" category="DMD" classification="DESCRIPTION">
            <metadataWrap mimeType="text/xml" textInfo="Acquisition Period" \
vocabularyName="Sentinel-SAFE">
                <xmlData>
                    <safe:acquisitionPeriod>
                        <safe:startTime>{iso(acq.datatake_start)}</safe:startTime>
                    </safe:acquisitionPeriod>
                </xmlData>
            </metadataWrap>
        </metadataObject>
        <metadataObject ID="measurementOrbitReference" category="DMD" classification="DESCRIPTION">
            <metadataWrap mimeType="text/xml" textInfo="Orbit Reference" \
vocabularyName="Sentinel-SAFE">
                <xmlData>
                    <safe:orbitReference>
                        <safe:orbitNumber groundTrackDirection="descending" \
type="start">{acq.absolute_orbit:06d}</safe:orbitNumber>
                        <safe:relativeOrbitNumber \
type="start">{ctx.grid.relative_orbit}</safe:relativeOrbitNumber>
                    </safe:orbitReference>
                </xmlData>
            </metadataWrap>
        </metadataObject>
        <metadataObject ID="platform" category="DMD" classification="DESCRIPTION">
            <metadataWrap mimeType="text/xml" textInfo="Platform Description" \
vocabularyName="Sentinel-SAFE">
                <xmlData>
                    <safe:platform>
                        <safe:nssdcIdentifier>2015-028A</safe:nssdcIdentifier>
                        <safe:familyName>SENTINEL</safe:familyName>
                        <safe:number>{acq.platform[1:]}</safe:number>
                        <safe:instrument>
                            <safe:familyName abbreviation="MSI">Multi-Spectral \
Instrument</safe:familyName>
                        </safe:instrument>
                    </safe:platform>
                </xmlData>
            </metadataWrap>
        </metadataObject>
        <metadataObject ID="processing" category="PDI" classification="PROVENANCE">
            <metadataWrap mimeType="text/xml" textInfo="Processing" vocabularyName="Sentinel-SAFE">
                <xmlData>
                    <safe:processing xmlns="http://www.esa.int/safe/sentinel/1.1" \
name="Generation of Level-{level[1:]} User Product" start="{iso(acq.generation_time, 6)}">
                    </safe:processing>
                </xmlData>
            </metadataWrap>
        </metadataObject>
        <metadataObject ID="measurementFrameSet" category="DMD" classification="DESCRIPTION">
            <metadataWrap mimeType="text/xml" textInfo="Frame Set" vocabularyName="Sentinel-SAFE">
                <xmlData>
                    <safe:frameSet>
                        <safe:footPrint srsName="http://www.opengis.net/gml/srs/epsg.xml#4326">
                            <gml:coordinates>{footprint} </gml:coordinates>
                        </safe:footPrint>
                    </safe:frameSet>
                </xmlData>
            </metadataWrap>
        </metadataObject>
    </metadataSection>
    <dataObjectSection>
{data}
    </dataObjectSection>
</xfdu:XFDU>
"""


def _data_object(safe_dir: Path, obj: DataObject) -> str:
    path = safe_dir / obj.relpath
    return (
        f'        <dataObject ID="{obj.object_id}">\n'
        f'            <byteStream mimeType="{obj.mime}" size="{path.stat().st_size}">\n'
        f'                <fileLocation href="./{obj.relpath}" locatorType="URL"/>\n'
        f'                <checksum checksumName="SHA3-256">{sha3_256(path)}</checksum>\n'
        f"            </byteStream>\n"
        f"        </dataObject>"
    )

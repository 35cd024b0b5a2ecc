"""The product (MTD_MSIL1C.xml / MTD_MSIL2A.xml) and tile (MTD_TL.xml) metadata of a SAFE.

Modelled on real products of baselines 03.01, 04.00 and 05.09: the same element names, order
and nesting, where the SENTINEL2 driver of GDAL and the common readers look for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np

from inference.sample.bands import BANDS, PHYSICAL_GAINS, SOLAR_IRRADIANCE
from inference.sample.context import ProductContext
from inference.sample.grid import sun_angles

_PSD = "https://psd-14.sentinel2.eo.esa.int/PSD"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_DOI = {"L1C": "https://doi.org/10.5270/S2_-742ikth", "L2A": "https://doi.org/10.5270/S2_-znk9xsj"}
SCL_CLASSES = (
    "SC_NODATA", "SC_SATURATED_DEFECTIVE", "SC_DARK_FEATURE_SHADOW", "SC_CLOUD_SHADOW",
    "SC_VEGETATION", "SC_NOT_VEGETATED", "SC_WATER", "SC_UNCLASSIFIED", "SC_CLOUD_MEDIUM_PROBA",
    "SC_CLOUD_HIGH_PROBA", "SC_THIN_CIRRUS", "SC_SNOW_ICE",
)  # fmt: skip


def iso(when: datetime, digits: int = 3) -> str:
    """``2023-06-25T10:20:21.024Z`` (``digits`` decimals of the second)."""
    text = when.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (text[: len(text) - 6 + digits] if digits else text[:-7]) + "Z"


def _lines(items: Iterable[str], indent: int) -> str:
    pad = " " * indent
    return "\n".join(pad + item for item in items)


def product_mtd(ctx: ProductContext, image_files: list[str], cloud_percent: float) -> str:
    """The product metadata XML (MTD_MSIL1C.xml or MTD_MSIL2A.xml)."""
    spec, acq = ctx.spec, ctx.acq
    l2a = spec.level == "L2A"
    root = "Level-2A_User_Product" if l2a else "Level-1C_User_Product"
    xsd = f"{_PSD}/User_Product_Level-{spec.level[1:]}.xsd"
    start = iso(acq.datatake_start)
    doi = ""
    if spec.radiometric_offset:  # the DOI came with baseline 04.00, as the offset did
        doi = f"\n            <PRODUCT_DOI>{_DOI[spec.level]}</PRODUCT_DOI>"
    files = _lines((f"<IMAGE_FILE>{f}</IMAGE_FILE>" for f in image_files), 24)
    footprint = " ".join(f"{lat!r} {lon!r}" for lon, lat in ctx.footprint_lonlat()[::-1])
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:{root} xmlns:n1="{xsd}" xmlns:xsi="{_XSI}" xsi:schemaLocation="{xsd}">
    <n1:General_Info>
        <Product_Info>
            <PRODUCT_START_TIME>{start}</PRODUCT_START_TIME>
            <PRODUCT_STOP_TIME>{start}</PRODUCT_STOP_TIME>
            <PRODUCT_URI>{ctx.product_id}.SAFE</PRODUCT_URI>
            <PROCESSING_LEVEL>Level-{spec.level[1:]}</PROCESSING_LEVEL>
            <PRODUCT_TYPE>S2MSI{spec.level[1:]}</PRODUCT_TYPE>
            <PROCESSING_BASELINE>{spec.baseline}</PROCESSING_BASELINE>{doi}
            <GENERATION_TIME>{iso(acq.generation_time, 6)}</GENERATION_TIME>
            <PREVIEW_IMAGE_URL>Not applicable</PREVIEW_IMAGE_URL>
            <PREVIEW_GEO_INFO>Not applicable</PREVIEW_GEO_INFO>
            <Datatake datatakeIdentifier="{ctx.datatake_id}">
                <SPACECRAFT_NAME>{acq.spacecraft_name}</SPACECRAFT_NAME>
                <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
                <DATATAKE_SENSING_START>{start}</DATATAKE_SENSING_START>
                <SENSING_ORBIT_NUMBER>{ctx.grid.relative_orbit}</SENSING_ORBIT_NUMBER>
                <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
            </Datatake>
            <Query_Options completeSingleTile="true">
                <PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT>
            </Query_Options>
            <Product_Organisation>
                <Granule_List>
                    <Granule datastripIdentifier="{ctx.datastrip_id}" \
granuleIdentifier="{ctx.tile_id}" imageFormat="JPEG2000">
{files}
                    </Granule>
                </Granule_List>
            </Product_Organisation>
        </Product_Info>
        <Product_Image_Characteristics>
            <Special_Values>
                <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
                <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
            </Special_Values>
            <Special_Values>
                <SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>
                <SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>
            </Special_Values>
            <Image_Display_Order>
                <RED_CHANNEL>3</RED_CHANNEL>
                <GREEN_CHANNEL>2</GREEN_CHANNEL>
                <BLUE_CHANNEL>1</BLUE_CHANNEL>
            </Image_Display_Order>
{_radiometry(ctx)}
            <Reflectance_Conversion>
                <U>{acq.earth_sun_u!r}</U>
                <Solar_Irradiance_List>
{
        _lines(
            (
                f'<SOLAR_IRRADIANCE bandId="{i}" unit="W/m²/µm">{e}</SOLAR_IRRADIANCE>'
                for i, e in enumerate(SOLAR_IRRADIANCE)
            ),
            20,
        )
    }
                </Solar_Irradiance_List>
            </Reflectance_Conversion>
            <Spectral_Information_List>
{_spectral_information()}
            </Spectral_Information_List>
{
        _lines(
            (
                f'<PHYSICAL_GAINS bandId="{i}">{g}</PHYSICAL_GAINS>'
                for i, g in enumerate(PHYSICAL_GAINS)
            ),
            12,
        )
    }
            <REFERENCE_BAND>3</REFERENCE_BAND>{_scene_classification_list() if l2a else ""}
        </Product_Image_Characteristics>
    </n1:General_Info>
    <n1:Geometric_Info>
        <Product_Footprint>
            <Product_Footprint>
                <Global_Footprint>
                    <EXT_POS_LIST>{footprint} </EXT_POS_LIST>
                </Global_Footprint>
            </Product_Footprint>
            <RASTER_CS_TYPE>POINT</RASTER_CS_TYPE>
            <PIXEL_ORIGIN>1</PIXEL_ORIGIN>
        </Product_Footprint>
        <Coordinate_Reference_System>
            <GEO_TABLES version="1">EPSG</GEO_TABLES>
            <HORIZONTAL_CS_TYPE>GEOGRAPHIC</HORIZONTAL_CS_TYPE>
        </Coordinate_Reference_System>
    </n1:Geometric_Info>
    <n1:Auxiliary_Data_Info>
        <PRODUCTION_DEM_TYPE>CopernicusDEM90</PRODUCTION_DEM_TYPE>
        <ECMWF_DATA_REF>S2__OPER_AUX_ECMWFD_ADG__{acq.datatake_start:%Y%m%d}T000000</ECMWF_DATA_REF>
    </n1:Auxiliary_Data_Info>
    <n1:Quality_Indicators_Info>
        <Cloud_Coverage_Assessment>{cloud_percent:.4f}</Cloud_Coverage_Assessment>
        <Technical_Quality_Assessment>
            <DEGRADED_ANC_DATA_PERCENTAGE>0.0</DEGRADED_ANC_DATA_PERCENTAGE>
            <DEGRADED_MSI_DATA_PERCENTAGE>0</DEGRADED_MSI_DATA_PERCENTAGE>
        </Technical_Quality_Assessment>
        <Quality_Control_Checks>
            <Quality_Inspections>
{_lines((f'<quality_check checkType="{c}">PASSED</quality_check>' for c in _checks(l2a)), 16)}
            </Quality_Inspections>
            <Failed_Inspections/>
        </Quality_Control_Checks>
    </n1:Quality_Indicators_Info>
</n1:{root}>
"""


def _checks(l2a: bool) -> list[str]:
    checks = ["FORMAT_CORRECTNESS", "GENERAL_QUALITY", "GEOMETRIC_QUALITY"]
    return [*checks, *(["L2A_QUALITY"] if l2a else []), "RADIOMETRIC_QUALITY", "SENSOR_QUALITY"]


def _radiometry(ctx: ProductContext) -> str:
    """Quantification value(s) and, from baseline 04.00 on, the per-band additive offsets."""
    spec = ctx.spec
    offset = spec.radiometric_offset
    if spec.level == "L1C":
        out = [f'<QUANTIFICATION_VALUE unit="none">{spec.quantification}</QUANTIFICATION_VALUE>']
        if offset:
            out.append("<Radiometric_Offset_List>")
            out += [
                f'    <RADIO_ADD_OFFSET band_id="{b.band_id}">{offset}</RADIO_ADD_OFFSET>'
                for b in BANDS
            ]
            out.append("</Radiometric_Offset_List>")
        return _lines(out, 12)
    boa = f'<BOA_QUANTIFICATION_VALUE unit="none">{spec.quantification}</BOA_QUANTIFICATION_VALUE>'
    out = [
        "<QUANTIFICATION_VALUES_LIST>",
        f"    {boa}",
        '    <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>',
        '    <WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE>',
        "</QUANTIFICATION_VALUES_LIST>",
    ]
    if offset:
        out.append("<BOA_ADD_OFFSET_VALUES_LIST>")
        out += [
            f'    <BOA_ADD_OFFSET band_id="{b.band_id}">{offset}</BOA_ADD_OFFSET>' for b in BANDS
        ]
        out.append("</BOA_ADD_OFFSET_VALUES_LIST>")
    return _lines(out, 12)


def _spectral_information() -> str:
    out: list[str] = []
    for b in BANDS:
        out += [
            f'<Spectral_Information bandId="{b.band_id}" physicalBand="{b.physical_band}">',
            f"    <RESOLUTION>{b.resolution}</RESOLUTION>",
            "    <Wavelength>",
            f'        <MIN unit="nm">{b.wl_min}</MIN>',
            f'        <MAX unit="nm">{b.wl_max}</MAX>',
            f'        <CENTRAL unit="nm">{b.wl_central}</CENTRAL>',
            "    </Wavelength>",
            "</Spectral_Information>",
        ]
    return _lines(out, 16)


def _scene_classification_list() -> str:
    out = ["<Scene_Classification_List>"]
    for index, text in enumerate(SCL_CLASSES):
        out += [
            "    <Scene_Classification_ID>",
            f"        <SCENE_CLASSIFICATION_TEXT>{text}</SCENE_CLASSIFICATION_TEXT>",
            f"        <SCENE_CLASSIFICATION_INDEX>{index}</SCENE_CLASSIFICATION_INDEX>",
            "    </Scene_Classification_ID>",
        ]
    out.append("</Scene_Classification_List>")
    return "\n" + _lines(out, 12)


def tile_mtd(ctx: ProductContext, cloud_percent: float, scl_percent: dict[str, float]) -> str:
    """The tile metadata XML (GRANULE/<granule>/MTD_TL.xml)."""
    spec, acq, grid = ctx.spec, ctx.acq, ctx.grid
    root = f"Level-{spec.level[1:]}_Tile_ID"
    xsd = f"{_PSD}/S2_PDI_Level-{spec.level[1:]}_Tile_Metadata.xsd"
    hemisphere = "N" if grid.epsg < 32700 else "S"
    sizes, positions = [], []
    for res in (10, 20, 60):
        n = spec.size * 10 // res
        sizes += [
            f'<Size resolution="{res}">',
            f"  <NROWS>{n}</NROWS>",
            f"  <NCOLS>{n}</NCOLS>",
            "</Size>",
        ]
        positions += [
            f'<Geoposition resolution="{res}">',
            f"  <ULX>{grid.ulx:g}</ULX>",
            f"  <ULY>{grid.uly:g}</ULY>",
            f"  <XDIM>{res}</XDIM>",
            f"  <YDIM>-{res}</YDIM>",
            "</Geoposition>",
        ]
    zenith_grid, azimuth_grid = _sun_grid(ctx)
    l1c_tile = ""
    if spec.level == "L2A":
        l1c_tile = (
            f'<L1C_TILE_ID metadataLevel="Brief">'
            f"{ctx.tile_id.replace('_L2A_', '_L1C_')}</L1C_TILE_ID>\n    "
        )
    qi = [f"<CLOUDY_PIXEL_PERCENTAGE>{cloud_percent:.6f}</CLOUDY_PIXEL_PERCENTAGE>"]
    qi.append("<DEGRADED_MSI_DATA_PERCENTAGE>0</DEGRADED_MSI_DATA_PERCENTAGE>")
    qi += [f"<{key}>{value:.6f}</{key}>" for key, value in scl_percent.items()]
    viewing = []
    for b in BANDS:
        viewing += [
            f'<Mean_Viewing_Incidence_Angle bandId="{b.band_id}">',
            f'  <ZENITH_ANGLE unit="deg">{5.2 + 0.013 * b.band_id!r}</ZENITH_ANGLE>',
            f'  <AZIMUTH_ANGLE unit="deg">{104.6 + 0.21 * b.band_id!r}</AZIMUTH_ANGLE>',
            "</Mean_Viewing_Incidence_Angle>",
        ]
    archived = acq.generation_time + timedelta(minutes=41, seconds=7)
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:{root} xmlns:n1="{xsd}" xmlns:xsi="{_XSI}" xsi:schemaLocation="{xsd}">
  <n1:General_Info>
    {l1c_tile}<TILE_ID metadataLevel="Brief">{ctx.tile_id}</TILE_ID>
    <DATASTRIP_ID metadataLevel="Standard">{ctx.datastrip_id}</DATASTRIP_ID>
    <DOWNLINK_PRIORITY metadataLevel="Standard">NOMINAL</DOWNLINK_PRIORITY>
    <SENSING_TIME metadataLevel="Standard">{iso(acq.sensing_time, 6)}</SENSING_TIME>
    <Archiving_Info metadataLevel="Expertise">
      <ARCHIVING_CENTRE>2APS</ARCHIVING_CENTRE>
      <ARCHIVING_TIME>{iso(archived, 6)}</ARCHIVING_TIME>
    </Archiving_Info>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone {grid.zone:02d}{hemisphere}</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:{grid.epsg}</HORIZONTAL_CS_CODE>
{_lines(sizes, 6)}
{_lines(positions, 6)}
    </Tile_Geocoding>
    <Tile_Angles metadataLevel="Standard">
      <Sun_Angles_Grid>
        <Zenith>
          <COL_STEP unit="m">5000</COL_STEP>
          <ROW_STEP unit="m">5000</ROW_STEP>
          <Values_List>
{zenith_grid}
          </Values_List>
        </Zenith>
        <Azimuth>
          <COL_STEP unit="m">5000</COL_STEP>
          <ROW_STEP unit="m">5000</ROW_STEP>
          <Values_List>
{azimuth_grid}
          </Values_List>
        </Azimuth>
      </Sun_Angles_Grid>
      <Mean_Sun_Angle>
        <ZENITH_ANGLE unit="deg">{acq.sun_zenith!r}</ZENITH_ANGLE>
        <AZIMUTH_ANGLE unit="deg">{acq.sun_azimuth!r}</AZIMUTH_ANGLE>
      </Mean_Sun_Angle>
      <Mean_Viewing_Incidence_Angle_List>
{_lines(viewing, 8)}
      </Mean_Viewing_Incidence_Angle_List>
    </Tile_Angles>
  </n1:Geometric_Info>
  <n1:Quality_Indicators_Info metadataLevel="Standard">
    <Image_Content_QI>
{_lines(qi, 6)}
    </Image_Content_QI>
  </n1:Quality_Indicators_Info>
</n1:{root}>
"""


def _sun_grid(ctx: ProductContext) -> tuple[str, str]:
    """The 23 x 23 sun angle grids (5 km steps over the whole tile), as VALUES lines."""
    grid = ctx.grid
    steps = np.arange(23) * 5000.0
    xs, ys = np.meshgrid(grid.ulx + steps, grid.uly - steps)
    lon, lat = grid.lonlat(xs.ravel(), ys.ravel())
    zenith, azimuth = sun_angles(ctx.acq.sensing_time, lat, lon)
    rows = []
    for values in (zenith, azimuth):
        table = values.reshape(23, 23)
        rows.append(
            _lines(
                ("<VALUES>" + " ".join(f"{v:.4f}" for v in row) + "</VALUES>" for row in table), 12
            )
        )
    return rows[0], rows[1]

"""What ``kappacat ingest`` accepts, and what it refuses before anything is submitted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog_api.collections import L1C, L2A
from ingest.discover import read_geometry
from ingest.errors import SourceError
from ingest.pipeline import SourceRef
from ingest.sources import expand

L1C_ID = "S2A_MSIL1C_20230625T103506_N0509_R065_T32UQD_20230625T124851"
L2A_ID = "S2B_MSIL2A_20230626T103629_N0509_R008_T32UQD_20230626T112342"


def stac_item(item_id: str, href: str | None = None) -> dict[str, object]:
    links = [{"rel": "self", "href": href}] if href else []
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": item_id,
        "properties": {"s2:product_type": "S2MSI2A"},
        "links": links,
    }


def test_an_archive_folder_is_scanned_for_safe_dirs_zips_and_items(tmp_path: Path) -> None:
    day = tmp_path / "Sentinel-2/MSI/L1C/2023/06/25"
    (day / f"{L1C_ID}.SAFE/GRANULE").mkdir(parents=True)
    (day / f"{L1C_ID}.SAFE/GRANULE/x.json").write_text("{}")  # inside a SAFE: not looked at
    (day / f"{L2A_ID}.zip").write_bytes(b"PK")
    item = tmp_path / "items/other.json"
    item.parent.mkdir()
    item.write_text(json.dumps(stac_item("S2B_32UQD_20230627_0")))  # level from its properties
    (tmp_path / "items/notes.json").write_text('{"hello": "world"}')
    (tmp_path / "readme.txt").write_text("hi")

    refs = list(expand(str(tmp_path)))
    assert refs == [
        SourceRef(L1C_ID, str((day / f"{L1C_ID}.SAFE").resolve()), L1C),
        SourceRef(L2A_ID, str((day / f"{L2A_ID}.zip").resolve()), L2A),
        SourceRef("S2B_32UQD_20230627_0", str(item.resolve()), L2A),
    ]


def test_single_sources(tmp_path: Path) -> None:
    safe = tmp_path / f"{L1C_ID}.SAFE"
    safe.mkdir()
    assert list(expand(str(safe))) == [SourceRef(L1C_ID, str(safe.resolve()), L1C)]
    fc = tmp_path / "fc.json"
    fc.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    stac_item("a", "https://stac.example/items/a"),
                    stac_item("b", "https://stac.example/items/b"),
                ],
            }
        )
    )
    assert [(r.product_id, r.source) for r in expand(str(fc))] == [
        ("a", "https://stac.example/items/a"),
        ("b", "https://stac.example/items/b"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.zip", None, "no such file or directory"),
        ("notes.txt", "hello", "not a SAFE directory, a zip, a STAC item"),
        ("broken.json", "{not json", "cannot read a STAC item"),
        ("collection.json", json.dumps({"type": "Collection", "id": "c"}), "not a STAC item"),
        (
            "fc.json",
            json.dumps({"type": "FeatureCollection", "features": [{"id": "x"}]}),
            "has no self link",
        ),
    ],
)
def test_what_is_refused(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SourceError, match=message):
        list(expand(str(path)))


def test_an_area_file_may_hold_a_geometry_a_feature_or_one_feature(tmp_path: Path) -> None:
    polygon = {"type": "Polygon", "coordinates": [[[10, 47], [11, 47], [11, 48], [10, 47]]]}
    for n, doc in enumerate(
        [
            polygon,
            {"type": "Feature", "geometry": polygon, "properties": {}},
            {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": polygon}]},
        ]
    ):
        path = tmp_path / f"area{n}.geojson"
        path.write_text(json.dumps(doc))
        assert read_geometry(path) == polygon
    two = tmp_path / "two.geojson"
    two.write_text(json.dumps({"type": "FeatureCollection", "features": [{}, {}]}))
    with pytest.raises(SourceError, match="give one area"):
        read_geometry(two)

"""What ``kappacat ingest`` accepts, and what it refuses before anything is submitted."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from catalog.collections import L1C, L2A
from catalog.settings import DatabaseSettings
from ingest.discover import read_geometry
from ingest.errors import SourceError
from ingest.jobs import JobStore
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


REAL_L1C = "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248"
REAL_L2A = "S2A_MSIL2A_20230625T234621_N0509_R073_T01WCP_20230626T022157"


def _zip(dst: Path, safe: Path, folder: str | None = None) -> Path:
    """A zip of a SAFE's metadata files, under the folder name ``folder`` (default: its own)."""
    with zipfile.ZipFile(dst, "w") as archive:
        for path in sorted(safe.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder or safe.name}/{path.relative_to(safe)}")
    return dst


def test_a_product_is_named_by_its_own_metadata_not_its_file(
    tmp_path: Path, shared_data: Path
) -> None:
    safe = shared_data / "sentinel2-safe-metadata" / f"{REAL_L1C}.SAFE"
    p4 = _zip(tmp_path / "p4.zip", safe)
    renamed = _zip(tmp_path / "download (1).zip", safe)
    odd_folder = _zip(tmp_path / "x.zip", safe, folder="product.SAFE")  # MTD still says who
    copied = tmp_path / "copy.SAFE"
    shutil.copytree(safe, copied)
    refs = [ref for path in (p4, renamed, odd_folder, copied) for ref in expand(str(path))]
    assert [ref.product_id for ref in refs] == [REAL_L1C] * 4
    assert {ref.collection for ref in refs} == {L1C}
    assert [ref.source for ref in refs] == [
        str(p.resolve()) for p in (p4, renamed, odd_folder, copied)
    ]


def test_without_readable_metadata_the_safe_folder_then_the_file_names_it(tmp_path: Path) -> None:
    folder_only = tmp_path / "p5.zip"
    with zipfile.ZipFile(folder_only, "w") as archive:
        archive.writestr(f"{REAL_L2A}.SAFE/manifest.safe", "<xfdu/>")
        archive.writestr(f"{REAL_L2A}.SAFE/MTD_MSIL2A.xml", "<not-closed")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not a zip")
    refs = list(expand(str(folder_only))) + list(expand(str(tmp_path / "broken.zip")))
    assert [(r.product_id, r.collection) for r in refs] == [(REAL_L2A, L2A), ("broken", None)]


def test_the_same_product_under_another_file_name_is_the_same_job(
    tmp_path: Path, shared_data: Path, database: DatabaseSettings
) -> None:
    safe = shared_data / "sentinel2-safe-metadata" / f"{REAL_L2A}.SAFE"
    first, second = (
        next(expand(str(_zip(tmp_path / name, safe)))) for name in ("p4.zip", "again.zip")
    )
    with JobStore(database.url) as store:
        with store.transaction() as conn:
            made = store.submit(
                conn, first.product_id, "m", first.source, collection=first.collection
            )
        with store.transaction() as conn:
            again = store.submit(
                conn, second.product_id, "m", second.source, collection=second.collection
            )
    assert made.dispatch and not again.dispatch
    assert again.job.id == made.job.id and again.job.product_id == REAL_L2A


def test_stac_items_of_every_provider_land_in_their_collection() -> None:
    providers = Path(__file__).resolve().parents[1] / "data" / "providers"
    found = {path.stem: next(expand(str(path))) for path in sorted(providers.glob("*.json"))}
    assert {name: ref.collection for name, ref in found.items()} == {
        "cdse-l2a": L2A,  # product:type S2MSI2A, processing:level only "L2"
        "earth-search-c1-l2a": L2A,
        "earth-search-l1c": L1C,
        "earth-search-l2a": L2A,
        "planetary-computer-0212": L2A,
        "planetary-computer-0400": L2A,
    }

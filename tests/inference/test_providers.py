"""The same reflectance from every provider, each in its own encoding, gives the same mask.

Real STAC items of Earth Search (sentinel-2-l2a with earthsearch:boa_offset_applied,
sentinel-2-c1-l2a, sentinel-2-l1c), the Planetary Computer (baselines 02.12 and 04.00) and the
Copernicus Data Space (on a real S3-protocol server, its hrefs untouched), and SAFE products,
each pointing at files that hold one field of reflectance the way that provider stores it.

The L2A JPEG 2000 files have a single resolution level: the reader decodes a 10 m JPEG 2000
band at its 20 m wavelet level for the 30 m model (a measured speed choice), and that
approximation is not a COG's 2 x 2 mean, whatever the provider. Compared here is what the
providers' conventions decide. The L1C files are all JPEG 2000, as ESA writes them, with the
usual levels.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pystac
import pytest
import rasterio
from moto.server import ThreadedMotoServer

from inference import InferenceSettings, open_product, run_mask
from inference.errors import SourceUnavailableError
from inference.providers import choose_profile
from inference.sample import write_sample_product
from inference.settings import SourceSettings
from tests.httpfiles import serve_directory
from tests.inference.providers import (
    PROVIDERS,
    SIZE,
    Field,
    field_from_sample,
    harmonised,
    provider_item,
    raw_dn,
    safe_product,
)
from tests.servers import free_port

UKIS_BANDS = ["B02", "B03", "B04", "B08", "B11", "B12"]
pytestmark = pytest.mark.filterwarnings(
    "ignore:Could not parse bucket:UserWarning",  # pystac migrating Earth Search's storage ext
    "ignore::rasterio.errors.NotGeoreferencedWarning",
)


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, SourceSettings]]:
    """A real S3-protocol server on loopback holding a bucket ``eodata``, and the settings
    that reach it as the Copernicus Data Space's endpoint (with credentials)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{endpoint}",
            aws_access_key_id="cdse-key",
            aws_secret_access_key="cdse-secret",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="eodata")
        settings = SourceSettings(
            cdse_s3_endpoint=endpoint,
            cdse_s3_https=False,
            cdse_s3_access_key="cdse-key",
            cdse_s3_secret_key="cdse-secret",  # type: ignore[arg-type]
            _env_file=None,  # type: ignore[call-arg]
        )
        yield f"http://{endpoint}", settings
    finally:
        server.stop()


def _upload(endpoint: str) -> Callable[[str, Path], str]:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="cdse-key",
        aws_secret_access_key="cdse-secret",
        region_name="us-east-1",
    )

    def put(original: str, path: Path) -> str:
        bucket, key = original.removeprefix("s3://").split("/", 1)
        client.upload_file(str(path), bucket, key)
        return original  # the real href, read from the S3 server

    return put


def _field(tmp_path_factory: pytest.TempPathFactory, level: str) -> Field:
    sample = write_sample_product(
        tmp_path_factory.mktemp(f"field-{level}"),
        size=2 * SIZE,
        level=level,
        baseline="03.01",
        seed=5,  # a corner with all four classes, thin cirrus included
        fmt="stac",
    )
    return field_from_sample(sample)


@pytest.fixture(scope="module")
def l2a_field(tmp_path_factory: pytest.TempPathFactory) -> Field:
    """The L2A reflectance every L2A source below holds."""
    return _field(tmp_path_factory, "L2A")


@pytest.fixture(scope="module")
def l2a_sources(
    l2a_field: Field, tmp_path_factory: pytest.TempPathFactory, s3: tuple[str, SourceSettings]
) -> dict[str, str]:
    """Every L2A encoding of one field: name -> product (STAC item or SAFE)."""
    field = l2a_field
    dst = tmp_path_factory.mktemp("l2a-providers")
    put = _upload(s3[0])
    return {
        "earth-search-l2a": str(provider_item("earth-search-l2a", field, dst, harmonised, "COG")),
        "earth-search-c1-l2a": str(
            provider_item("earth-search-c1-l2a", field, dst, raw_dn("05.11"), "COG")
        ),
        "planetary-computer-0212": str(
            provider_item("planetary-computer-0212", field, dst, raw_dn("02.12"), "COG")
        ),
        "planetary-computer-0400": str(
            provider_item("planetary-computer-0400", field, dst, raw_dn("04.00"), "COG")
        ),
        "cdse-l2a": str(
            provider_item("cdse-l2a", field, dst, raw_dn("05.11"), "JP2", href=put, levels=1)
        ),
        "safe-l2a-05.09": str(safe_product(field, dst / "safe", "L2A", "05.09", levels=1)),
    }


@pytest.fixture(scope="module")
def l1c_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every L1C encoding of one field; the SAFE of baseline 05.09 is the reference."""
    field = _field(tmp_path_factory, "L1C")
    dst = tmp_path_factory.mktemp("l1c-providers")
    return {
        "safe-l1c-05.09": str(safe_product(field, dst / "safe0509", "L1C", "05.09")),
        "safe-l1c-03.01": str(safe_product(field, dst / "safe0301", "L1C", "03.01")),
        "earth-search-l1c": str(
            provider_item("earth-search-l1c", field, dst, raw_dn("05.11"), "JP2")
        ),
    }


def _masks(
    sources: dict[str, str], tmp_path: Path, settings: SourceSettings | None = None
) -> dict[str, np.ndarray]:
    inference = InferenceSettings(threads=2, read_threads=2, _env_file=None)
    masks = {}
    for name, source in sources.items():
        out = tmp_path / f"{name}.tif"
        run_mask(source, out, settings=inference, sources=settings)
        with rasterio.open(out) as cog:
            masks[name] = cog.read(1)
    return masks


def test_every_l2a_encoding_reads_the_same_reflectance(
    l2a_sources: dict[str, str], s3: tuple[str, SourceSettings]
) -> None:
    read = {}
    for name, source in l2a_sources.items():
        with open_product(source, sources=s3[1]) as product:
            assert product.info.level == "L2A"
            read[name] = product.read(UKIS_BANDS, 0, SIZE // 3, resolution=30)
    reference, ok = read["safe-l2a-05.09"]
    assert ok.all() and 0.01 < np.median(reference[2]) < 0.5  # reflectance, not DN
    for name, (values, valid) in read.items():
        assert np.array_equal(valid, ok), name
        difference = np.abs(values[:, ok] - reference[:, ok]).max()
        assert np.array_equal(values[:, ok], reference[:, ok]), f"{name}: off by {difference:.4f}"


def test_every_l2a_encoding_gives_the_same_mask(
    l2a_sources: dict[str, str], s3: tuple[str, SourceSettings], tmp_path: Path
) -> None:
    masks = _masks(l2a_sources, tmp_path, s3[1])
    reference = masks["safe-l2a-05.09"]
    assert {1, 2, 3, 4} <= set(np.unique(reference)), np.unique(reference)
    for name, mask in masks.items():
        differ = float((mask != reference).mean())
        assert np.array_equal(mask, reference), f"{name}: {100 * differ:.2f} % of pixels differ"


def test_every_l1c_encoding_gives_the_reference_mask(
    l1c_sources: dict[str, str], tmp_path: Path
) -> None:
    masks = _masks(l1c_sources, tmp_path)
    reference = masks["safe-l1c-05.09"]
    assert {1, 2, 3, 4} <= set(np.unique(reference)), np.unique(reference)
    for name, mask in masks.items():
        differ = float((mask != reference).mean())
        assert np.array_equal(mask, reference), f"{name}: {100 * differ:.2f} % of pixels differ"


@pytest.mark.parametrize(
    ("name", "profile", "offset", "says"),
    [
        ("earth-search-l2a", "earth-search-l2a", 0, "raster:bands offset ignored"),
        ("earth-search-c1-l2a", "earth-search-c1-l2a", -1000, "raster:bands scale and offset"),
        ("earth-search-l1c", "earth-search-l1c", -1000, "baseline 04.00"),
        ("planetary-computer-0212", "planetary-computer", 0, "before baseline 04.00"),
        ("planetary-computer-0400", "planetary-computer", -1000, "baseline 04.00"),
        ("cdse-l2a", "cdse", -1000, "raster:scale / raster:offset"),
    ],
)
def test_each_real_item_gets_its_providers_profile_and_says_why(
    l2a_sources: dict[str, str],
    l1c_sources: dict[str, str],
    s3: tuple[str, SourceSettings],
    caplog: pytest.LogCaptureFixture,
    name: str,
    profile: str,
    offset: int,
    says: str,
) -> None:
    source = {**l2a_sources, **l1c_sources}[name]
    with (
        caplog.at_level(logging.INFO, logger="inference"),
        open_product(source, sources=s3[1]) as product,
    ):
        assert product.info.extra["provider"] == profile
        assert {f.dn_offset for f in product.files["B04"]} == {offset}
        assert product.info.platform in ("sentinel-2a", "sentinel-2b", "sentinel-2c")
        requester_pays = product.gdal_env().get("AWS_REQUEST_PAYER")
        assert requester_pays == ("requester" if profile == "earth-search-l1c" else None)
    logged = [r.getMessage() for r in caplog.records if product.info.id in r.getMessage()]
    assert any(says in line and "read as" in line for line in logged), logged


def test_cdse_reads_the_per_resolution_assets_a_resolution_needs(
    l2a_sources: dict[str, str], s3: tuple[str, SourceSettings]
) -> None:
    with open_product(l2a_sources["cdse-l2a"], sources=s3[1]) as product:
        assert product.band_file("B02", 30).path.endswith("_B02_20m.jp2")
        assert product.band_file("B02", 10).path.endswith("_B02_10m.jp2")
        assert product.band_file("B02", 10).path.startswith("/vsis3/eodata/Sentinel-2/MSI/L2A/")
        assert "AOT" not in product.files and "WVP" not in product.files


def test_planetary_computer_spells_its_platform_its_own_way() -> None:
    item = json.loads((PROVIDERS / "planetary-computer-0400.json").read_text())
    assert (item["properties"]["platform"], item["properties"]["constellation"]) == (
        "Sentinel-2B",
        "Sentinel 2",
    )
    profile, _ = choose_profile(pystac.Item.from_dict(item))
    assert profile.platform(pystac.Item.from_dict(item)) == "sentinel-2b"


def _flag_false(item: dict[str, Any]) -> None:
    item["properties"]["earthsearch:boa_offset_applied"] = False


@pytest.mark.parametrize(
    ("encoding", "offset"), [("harmonised", 0), ("raw", -1000)], ids=["harmonised", "raw"]
)
def test_a_false_earth_search_flag_is_checked_against_the_data(
    l2a_field: Field,
    l2a_sources: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    encoding: str,
    offset: int,
) -> None:
    """Items of baseline 04.00 and later flagged false hold harmonised COGs in some cases
    (Element84/earth-search#66, #71) and ESA's values in others: the real item, its flag set
    false as theirs is, gives the right reflectance either way."""
    encode = harmonised if encoding == "harmonised" else raw_dn("05.11")
    source = provider_item(
        "earth-search-l2a", l2a_field, tmp_path, encode, "COG", edit=_flag_false, label=encoding
    )
    with caplog.at_level(logging.INFO, logger="inference"), open_product(source) as product:
        assert {f.dn_offset for f in product.files["B04"]} == {offset}
        values, ok = product.read(UKIS_BANDS, 0, SIZE // 3, resolution=30)
    with open_product(l2a_sources["safe-l2a-05.09"]) as reference:
        expected, _ = reference.read(UKIS_BANDS, 0, SIZE // 3, resolution=30)
    assert ok.all() and np.array_equal(values, expected)
    assert any("boa_offset_applied is False" in r.getMessage() for r in caplog.records)


@pytest.fixture
def sas_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A loopback stand-in for the Planetary Computer's SAS token API, set as the
    planetary-computer package's token endpoint; yields the token it hands out."""
    import planetary_computer.sas
    import planetary_computer.settings

    token = "st=2026-01-01T00%3A00%3A00Z&se=2099-01-01T00%3A00%3A00Z&sp=rl&sig=test-signature"
    folder = tmp_path / "token" / "sentinel2l2a01"
    folder.mkdir(parents=True)
    (folder / "sentinel2-l2").write_text(
        json.dumps({"msft:expiry": "2099-01-01T00:00:00Z", "token": token})
    )
    with serve_directory(tmp_path / "token") as (base, _):
        settings = planetary_computer.settings.Settings.get()
        monkeypatch.setattr(settings, "sas_url", base)
        monkeypatch.setattr(planetary_computer.sas, "TOKEN_CACHE", {})
        yield token


def test_planetary_computer_hrefs_are_signed(sas_server: str) -> None:
    item = pystac.Item.from_file(str(PROVIDERS / "planetary-computer-0400.json"))
    profile, _ = choose_profile(item)
    href = item.assets["B04"].href
    settings = SourceSettings(_env_file=None)  # type: ignore[call-arg]
    assert profile.sign(href, settings) == f"{href}?{sas_server}"
    assert profile.sign("/data/B04.tif", settings) == "/data/B04.tif"  # local files as they are
    unsigned = SourceSettings(planetary_computer_sign=False, _env_file=None)  # type: ignore[call-arg]
    assert profile.sign(href, unsigned) == href
    # the reader opens the signed href (which cannot be reached from here)
    with pytest.raises(SourceUnavailableError, match="sig=test-signature"):
        open_product(str(PROVIDERS / "planetary-computer-0400.json"), sources=settings)

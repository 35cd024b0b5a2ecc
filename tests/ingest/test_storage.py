"""Storage: a local directory and an S3-protocol server, through the same small interface."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from catalog.settings import StorageSettings
from ingest.errors import ConfigError
from ingest.storage import open_storage
from tests.ingest.conftest import S3_ENV, S3Server


def test_local_storage_hrefs_point_at_the_api_assets_route(tmp_path: Path) -> None:
    storage = open_storage(StorageSettings(url=f"file://{tmp_path}/masks"))
    src = tmp_path / "mask.tif"
    src.write_bytes(b"x" * 1234)
    assert storage.put_file("c/32UQD/p/mask.tif", src, "image/tiff") == 1234
    assert (tmp_path / "masks/c/32UQD/p/mask.tif").read_bytes() == src.read_bytes()
    assert storage.size("c/32UQD/p/mask.tif") == 1234
    assert storage.size("c/32UQD/p/none.tif") is None
    assert storage.href("c/32UQD/p/mask.tif") == "http://127.0.0.1:8081/assets/c/32UQD/p/mask.tif"
    custom = open_storage(StorageSettings(url=str(tmp_path), public_url="https://masks.example/"))
    assert custom.href("a b.tif") == "https://masks.example/a%20b.tif"
    storage.delete("c/32UQD/p/mask.tif")
    storage.delete("c/32UQD/p/mask.tif")  # already gone: fine
    assert storage.size("c/32UQD/p/mask.tif") is None


def test_storage_url_must_be_a_directory_or_s3() -> None:
    with pytest.raises(ConfigError, match="use a directory, file:// or s3://"):
        open_storage(StorageSettings(url="gs://bucket/masks"))
    with pytest.raises(ConfigError, match="names no bucket"):
        open_storage(StorageSettings(url="s3:///masks"))


def test_s3_storage_on_a_real_s3_server(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = f"masks-{uuid.uuid4().hex[:8]}"
    s3_server.bucket(bucket)
    public = f"{s3_server.endpoint}/{bucket}/v1"
    storage = open_storage(
        StorageSettings(
            url=f"s3://{bucket}/v1", s3_endpoint_url=s3_server.endpoint, public_url=public
        )
    )
    src = tmp_path / "mask.tif"
    src.write_bytes(bytes(range(256)) * 100)
    assert storage.put_file("c/p/mask.tif", src, "image/tiff") == 25600
    assert storage.size("c/p/mask.tif") == 25600
    assert storage.read("c/p/mask.tif") == src.read_bytes()
    response = httpx.get(storage.href("c/p/mask.tif"), timeout=10)
    assert response.status_code == 200 and response.content == src.read_bytes()
    assert response.headers["content-type"] == "image/tiff"
    default = open_storage(
        StorageSettings(url=f"s3://{bucket}/v1", s3_endpoint_url=s3_server.endpoint)
    )
    assert default.href("c/p/mask.tif") == f"s3://{bucket}/v1/c/p/mask.tif"

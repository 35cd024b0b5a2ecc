"""Fixtures of the inference tests: generated sample products (SAFE, zip, STAC) and helpers."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from inference.sample import SampleProduct, write_sample_product
from inference.settings import InferenceSettings

SIZE = 1098  # 10 m pixels: 366 px at the ukis model's 30 m, two tile rows and columns


def zip_safe(safe_dir: Path, dst: Path) -> Path:
    """Zip a SAFE directory as the archives distribute them (JP2 stored, XML deflated)."""
    with zipfile.ZipFile(dst, "w") as archive:
        for path in sorted(safe_dir.rglob("*")):
            if path.is_file():
                compress = zipfile.ZIP_STORED if path.suffix == ".jp2" else zipfile.ZIP_DEFLATED
                archive.write(path, f"{safe_dir.name}/{path.relative_to(safe_dir)}", compress)
    return dst


def copy_safe(sample: SampleProduct, dst_root: Path) -> Path:
    """A private copy of a sample SAFE directory that a test may damage."""
    dst = dst_root / sample.path.name
    shutil.copytree(sample.path, dst)
    return dst


@pytest.fixture(scope="session")
def sample_l1c(tmp_path_factory: pytest.TempPathFactory) -> SampleProduct:
    """A generated L1C SAFE product (baseline 05.09, -1000 offset) with its truth."""
    return write_sample_product(tmp_path_factory.mktemp("l1c"), size=SIZE, level="L1C", seed=1)


@pytest.fixture(scope="session")
def sample_l2a(tmp_path_factory: pytest.TempPathFactory) -> SampleProduct:
    """A small generated L2A SAFE product of baseline 04.00."""
    return write_sample_product(
        tmp_path_factory.mktemp("l2a"), size=546, level="L2A", baseline="04.00", seed=3
    )


@pytest.fixture(scope="session")
def sample_old_baseline(tmp_path_factory: pytest.TempPathFactory) -> SampleProduct:
    """A small generated L1C SAFE product of baseline 03.01 (no radiometric offset)."""
    return write_sample_product(
        tmp_path_factory.mktemp("l1c0301"), size=546, level="L1C", baseline="03.01", seed=1
    )


@pytest.fixture(scope="session")
def sample_stac(tmp_path_factory: pytest.TempPathFactory) -> SampleProduct:
    """The L1C sample scene as an Earth Search style STAC item with per-band COGs."""
    return write_sample_product(
        tmp_path_factory.mktemp("stac"), size=SIZE, level="L1C", seed=1, fmt="stac"
    )


@pytest.fixture(scope="session")
def sample_zip(sample_l1c: SampleProduct, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The L1C sample SAFE as a zip."""
    return zip_safe(sample_l1c.path, tmp_path_factory.mktemp("zip") / "product.zip")


@pytest.fixture
def settings() -> InferenceSettings:
    """Settings for tests: two threads, independent of the environment's .env."""
    return InferenceSettings(threads=2, read_threads=2, _env_file=None)

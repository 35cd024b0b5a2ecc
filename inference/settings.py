"""Settings of the inference engine, read from ``KAPPACAT_INFERENCE_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from catalog.settings import KappacatSettings

Compression = Literal["DEFLATE", "ZSTD"]
DEFAULT_COMPRESSION: Compression = "ZSTD"
"""The codec of the mask COGs the pipeline writes, unless configured otherwise."""


class InferenceSettings(KappacatSettings):
    """How masks are computed: threads, execution providers, windows, output encoding.

    Nothing is read at import time: build one with ``InferenceSettings()`` (environment and
    ``.env``) or pass values explicitly.
    """

    model_config = SettingsConfigDict(
        env_prefix="KAPPACAT_INFERENCE_", env_file=".env", extra="ignore", frozen=True
    )

    threads: int = Field(0, ge=0, description="onnxruntime intra-op threads; 0 = all cores")
    providers: str = Field(
        "auto",
        description=(
            "onnxruntime execution providers, comma-separated (e.g. 'CUDAExecutionProvider,"
            "CPUExecutionProvider'); 'auto' = CUDA when onnxruntime-gpu has it, else CPU"
        ),
    )
    spin: bool = Field(
        False,
        description=(
            "let onnxruntime threads spin while waiting (faster on an idle machine, wasteful when "
            "cores are shared with band decoding or other processes)"
        ),
    )
    batch_size: int = Field(4, ge=1, description="tiles per onnxruntime run")
    default_card_l1c: str = Field("ukis-csmask-6b-l1c", description="card for L1C products")
    default_card_l2a: str = Field("ukis-csmask-6b-l2a", description="card for L2A products")

    resolution: float | None = Field(
        None, gt=0, description="processing resolution in metres; default: the card's"
    )
    window_rows: int = Field(
        1024, ge=64, description="rows of the processing grid read and tiled at a time"
    )
    window_mb: int = Field(
        384, ge=16, description="upper bound of one window's band data in MB (shrinks windows)"
    )
    read_threads: int = Field(2, ge=1, description="bands decoded in parallel")
    prefetch: bool = Field(True, description="read the next window while the model runs")
    gdal_cache_mb: int = Field(128, ge=16, description="GDAL block cache (GDAL_CACHEMAX)")
    compression: Compression = Field(
        DEFAULT_COMPRESSION, description="COG compression (ZSTD or DEFLATE)"
    )
    thumbnail_size: int = Field(256, ge=16, description="longest side of the PNG thumbnail")
    check_jp2: bool = Field(
        True, description="check local JPEG 2000 band files for truncation before reading"
    )

    def default_card_for(self, level: str) -> str:
        """The card reference products of ``level`` get by default; KeyError for others."""
        return {"L1C": self.default_card_l1c, "L2A": self.default_card_l2a}[level]


class SourceSettings(KappacatSettings):
    """How products are fetched from providers: object-store endpoints, credentials, signing.

    Read from ``KAPPACAT_SOURCE_*`` variables when built, never at import time.
    """

    model_config = SettingsConfigDict(
        env_prefix="KAPPACAT_SOURCE_", env_file=".env", extra="ignore", frozen=True
    )

    cdse_s3_endpoint: str = Field(
        "eodata.dataspace.copernicus.eu",
        description="S3 endpoint (host[:port]) of the Copernicus Data Space's s3://eodata",
    )
    cdse_s3_https: bool = Field(True, description="reach the CDSE S3 endpoint over HTTPS")
    cdse_s3_access_key: str | None = Field(
        None, description="CDSE S3 access key (empty: unsigned requests)"
    )
    cdse_s3_secret_key: SecretStr | None = Field(None, description="CDSE S3 secret key")
    planetary_computer_sign: bool = Field(
        True,
        description=(
            "sign Planetary Computer blob hrefs with a SAS token (the planetary-computer "
            "package; PC_SDK_SUBSCRIPTION_KEY is read by it)"
        ),
    )

"""Model cards: everything the engine needs to run a segmentation model on Sentinel-2 bands.

A card is a small YAML or JSON file. The default cards, shipped in ``inference/cards/``, run
the pretrained 6-band U-Nets of the ``ukis-csmask`` package, whose ONNX files are loaded from
the installed package (``package:ukis_csmask/model_6b_l1c.onnx``), never copied.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from catalog.legend import LEGEND_BY_VALUE, NODATA, SEMI_TRANSPARENT_CLOUD
from inference.bands import band_id
from inference.errors import ModelCardError

if TYPE_CHECKING:
    from inference.settings import InferenceSettings

CARDS_PACKAGE = "inference.cards"


class OutputClass(BaseModel):
    """One output channel of the model and the legend value it maps to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0)
    name: str
    legend: int

    @field_validator("legend")
    @classmethod
    def _in_legend(cls, value: int) -> int:
        if value not in LEGEND_BY_VALUE or value == NODATA:
            raise ValueError(f"legend value {value} is not a class of the mask legend (1-5)")
        return value


class Normalisation(BaseModel):
    """How reflectances become model inputs, per band in the card's band order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["standardise", "minmax", "linear", "none"] = "none"
    mean: list[float] | None = None  # standardise: (x - mean) / std
    std: list[float] | None = None
    min: list[float] | None = None  # minmax: (x - min) / (max - min)
    max: list[float] | None = None
    clip: bool = False  # clip the normalised values to [0, 1]
    scale: float = 1.0  # linear: x * scale + offset
    offset: float = 0.0


class ThinCirrusB10(BaseModel):
    """Thin cirrus in an L1C product: B10 top-of-atmosphere reflectance in Sen2Cor's range.

    The thresholds are Sen2Cor's (its L2A_GIPP thin-cirrus test, the one that makes SCL class
    10): cirrus from a B10 reflectance of 0.012 (Fmask's cirrus test starts at 0.01), thin up
    to 0.035 (above, Sen2Cor calls it cloud), where the blue reflectance stays below 0.5 (a
    brighter pixel is opaque cloud, not a surface seen through cirrus). B10 sees high ice
    cloud only: water vapour absorbs the light from lower down, so a low opaque cloud can lie
    in the thin range too, which is why evidence never turns the model's cloud into class 3.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["b10-thin-cirrus"] = "b10-thin-cirrus"
    min: float = Field(0.012, ge=0)  # B10 reflectance from which a pixel has cirrus
    max: float = Field(0.035, gt=0)  # ... and up to which the cirrus is thin
    blue_max: float = Field(0.5, gt=0)  # B02 reflectance below which the ground shows through
    resolution: float = Field(60, gt=0)  # metres: B10's own; blue is averaged to it

    @model_validator(mode="after")
    def _range(self) -> ThinCirrusB10:
        if self.max <= self.min:
            raise ValueError(f"thin cirrus max {self.max} is not above min {self.min}")
        return self


class ThinCirrusSCL(BaseModel):
    """Thin cirrus in an L2A product: the scene classification's thin-cirrus class.

    An L2A product has no B10; Sen2Cor ran the same B10 test when it made the SCL, whose class
    10 is its result. Read at the SCL's own 20 m (the 60 m SCL is a coarser resampling of it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["scl-thin-cirrus"] = "scl-thin-cirrus"
    classes: list[int] = Field(default_factory=lambda: [10], min_length=1)
    resolution: float = Field(20, gt=0)


class SemiTransparentRule(BaseModel):
    """How the engine makes semi-transparent cloud (legend 3) for a model without the class.

    A pixel the model calls clear with thin-cirrus evidence becomes semi-transparent cloud;
    cloud and cloud shadow stay as the model says (thin cirrus over a shadow is still a
    shadow to a user, and B10 cannot tell thin cirrus from the top of a low opaque cloud).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    l1c: ThinCirrusB10 | None = ThinCirrusB10()
    l2a: ThinCirrusSCL | None = ThinCirrusSCL()

    def for_level(self, level: str) -> ThinCirrusB10 | ThinCirrusSCL | None:
        """The evidence used for products of a level (None: no class 3 for them)."""
        return self.l1c if level == "L1C" else self.l2a if level == "L2A" else None


MODEL_RULE = "model"
"""What the item records when the model's own output makes class 3."""
NO_RULE = "none"
"""What the item records when nothing made class 3."""


class ModelCard(BaseModel):
    """A model card (see DESIGN.md, "Models")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str
    version: str
    description: str = ""
    license: str | None = None
    url: str | None = None
    onnx: str  # a path (relative to the card file) or "package:<package>/<file>"
    bands: list[str]  # band ids in input channel order
    resolution: float = Field(gt=0)  # processing resolution in metres
    tile_size: int = Field(ge=16)
    overlap: float = Field(0.2, ge=0.0, lt=0.5)  # fraction of the tile shared with a neighbour
    levels: list[Literal["L1C", "L2A"]]
    input_unit: Literal["reflectance", "dn"] = "reflectance"  # dn = reflectance * 10000
    input_layout: Literal["NCHW", "NHWC"] = "NCHW"
    normalisation: Normalisation = Normalisation()
    output_activation: Literal["softmax", "none"] = "softmax"  # none: outputs are probabilities
    classes: list[OutputClass]
    semi_transparent_cloud: SemiTransparentRule | None = None  # for models without class 3
    source: str | None = Field(None, exclude=True)  # where the card was read from

    @field_validator("bands")
    @classmethod
    def _canonical_bands(cls, value: list[str]) -> list[str]:
        out = []
        for name in value:
            canonical = band_id(name)
            if canonical is None:
                raise ValueError(f"unknown Sentinel-2 band {name!r}")
            out.append(canonical)
        return out

    @model_validator(mode="after")
    def _consistent(self) -> ModelCard:
        n = len(self.bands)
        norm = self.normalisation
        for field in ("mean", "std", "min", "max"):
            values = getattr(norm, field)
            if values is not None and len(values) != n:
                raise ValueError(f"normalisation.{field} has {len(values)} values for {n} bands")
        if norm.method == "standardise" and (norm.mean is None or norm.std is None):
            raise ValueError("normalisation 'standardise' needs mean and std")
        if norm.method == "minmax" and (norm.min is None or norm.max is None):
            raise ValueError("normalisation 'minmax' needs min and max")
        indexes = sorted(c.index for c in self.classes)
        if indexes != list(range(len(indexes))):
            raise ValueError("classes must have indexes 0..n-1, each once")
        if self.overlap_px * 2 >= self.tile_size:
            raise ValueError("overlap too large for the tile size")
        if self.semi_transparent_cloud is not None and self.has_semi_transparent_class:
            raise ValueError(
                "the model has its own semi-transparent cloud class (legend 3); "
                "remove semi_transparent_cloud"
            )
        return self

    @property
    def has_semi_transparent_class(self) -> bool:
        """Whether an output channel of the model maps to legend 3."""
        return SEMI_TRANSPARENT_CLOUD in self.legend_values

    def semi_transparent_rule(self, level: str) -> ThinCirrusB10 | ThinCirrusSCL | None:
        """The evidence rule that makes class 3 for products of ``level``, if any."""
        if self.semi_transparent_cloud is None:
            return None
        return self.semi_transparent_cloud.for_level(level)

    @property
    def overlap_px(self) -> int:
        """Overlap between neighbouring tiles in pixels."""
        return round(self.tile_size * self.overlap)

    @property
    def legend_values(self) -> list[int]:
        """Legend value of each output channel, by channel index."""
        return [c.legend for c in sorted(self.classes, key=lambda c: c.index)]

    def onnx_file(self) -> AbstractContextManager[Path]:
        """A context giving a filesystem path of the ONNX model (``with card.onnx_file() as p``)."""
        if self.onnx.startswith("package:"):
            package, _, name = self.onnx[len("package:") :].partition("/")
            try:
                traversable = resources.files(package).joinpath(name)
            except ModuleNotFoundError as exc:
                raise ModelCardError(self.id, f"package {package} is not installed") from exc
            if not traversable.is_file():
                raise ModelCardError(self.id, f"{name} not found in package {package}")
            return resources.as_file(traversable)
        path = Path(self.onnx).expanduser()
        if not path.is_absolute() and self.source:
            path = Path(self.source).parent / path
        if not path.is_file():
            raise ModelCardError(self.id, f"ONNX file not found: {path}")
        return nullcontext(path)

    def to_dict(self) -> dict[str, Any]:
        """The card as plain data (for recording in the mask's STAC item)."""
        return self.model_dump(mode="json")

    def check_level(self, level: str, product: str) -> None:
        """Raise ModelCardError unless the card accepts products of this level."""
        if level not in self.levels:
            raise ModelCardError(
                self.id, f"accepts {'/'.join(self.levels)} products, {product} is {level}"
            )


def shipped_cards() -> dict[str, Path]:
    """The cards shipped with the package, by id (file stem)."""
    folder = resources.files(CARDS_PACKAGE)
    return {
        entry.name.rsplit(".", 1)[0]: Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith((".yaml", ".yml", ".json")) and ".example." not in entry.name
    }


def load_card(ref: str | Path) -> ModelCard:
    """Load a card from a YAML/JSON file path, or by the id of a shipped card."""
    path = Path(ref).expanduser()
    if not path.is_file():
        shipped = shipped_cards()
        if str(ref) not in shipped:
            known = ", ".join(sorted(shipped))
            raise ModelCardError(str(ref), f"no such card file or shipped card (shipped: {known})")
        path = shipped[str(ref)]
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ModelCardError(str(ref), f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelCardError(str(ref), f"{path} does not hold a mapping")
    try:
        return ModelCard.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        raise ModelCardError(str(data.get("id", ref)), f"invalid card {path}: {exc}") from exc


def default_card(level: str = "L1C", settings: InferenceSettings | None = None) -> ModelCard:
    """The default card for a product level, as configured in the settings."""
    from inference.settings import InferenceSettings

    settings = settings or InferenceSettings()
    try:
        return load_card(settings.default_card_for(level))
    except KeyError:
        raise ModelCardError("default", f"no default card for product level {level!r}") from None


__all__ = [
    "MODEL_RULE",
    "NO_RULE",
    "ModelCard",
    "Normalisation",
    "OutputClass",
    "SemiTransparentRule",
    "ThinCirrusB10",
    "ThinCirrusSCL",
    "default_card",
    "load_card",
]

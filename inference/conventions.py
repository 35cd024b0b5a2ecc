"""What every Sentinel-2 source shares: product levels, processing baselines, platform names.

The one home of the product-type -> level map, the level heuristics, the baseline 04.00
radiometric offset rule and the spelling of platforms. The SAFE and STAC readers, the provider
profiles (:mod:`inference.providers`), the sample generator and ``kappacat ingest`` all ask
here. Pure functions of strings: importing this module costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PRODUCT_TYPES: dict[str, str] = {"S2MSI1C": "L1C", "S2MSI2A": "L2A"}
"""ESA product type -> processing level (``s2:product_type``, ``product:type``, PRODUCT_TYPE)."""
LEVELS = ("L1C", "L2A")

QUANTIFICATION = 10000.0
"""QUANTIFICATION_VALUE / BOA_QUANTIFICATION_VALUE of every baseline so far."""
OFFSET_BASELINE = (4, 0)
"""From processing baseline 04.00 (25 January 2022) DNs carry RADIO_ADD_OFFSET/BOA_ADD_OFFSET."""
RADIOMETRIC_OFFSET_DN = -1000.0
"""That offset, in DN: reflectance = (DN + offset) / QUANTIFICATION (the same for every band)."""

_BASELINE_RE = re.compile(r"^N?(\d{1,2})\.?(\d{2})$")
_PLATFORM_RE = re.compile(r"^(?:sentinel|s)[-_ ]?2([a-z])?$")


def level_of_product_type(product_type: object) -> str | None:
    """The level of an ESA product type ("S2MSI2A" -> "L2A"), or None."""
    return PRODUCT_TYPES.get(str(product_type or "").strip().upper())


def guess_level(hints: Iterable[object]) -> str | None:
    """The level named in free text: a product id, a collection id, ``processing:level``.

    The first hint that names L1C or L2A (in any case, e.g. ``S2A_MSIL1C_...``,
    ``sentinel-2-l2a``) decides; None when none does.
    """
    for hint in hints:
        text = str(hint or "").upper()
        if "L1C" in text:
            return "L1C"
        if "L2A" in text:
            return "L2A"
    return None


def product_level(product_type: object, *hints: object) -> str | None:
    """The level from a product type if it names one, else from the first hint that does."""
    return level_of_product_type(product_type) or guess_level(hints)


def baseline_rank(baseline: object) -> tuple[int, int] | None:
    """A processing baseline as numbers ("05.11", "5.11", "N0511" -> (5, 11)), or None."""
    match = _BASELINE_RE.match(str(baseline or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def has_radiometric_offset(baseline: object) -> bool | None:
    """Whether ESA's DNs of a baseline carry the -1000 offset; None if the baseline is unknown."""
    rank = baseline_rank(baseline)
    return None if rank is None else rank >= OFFSET_BASELINE


def baseline_offset_dn(baseline: object) -> float:
    """ESA's additive DN offset of a baseline: -1000 from 04.00 on, 0 before (or unknown)."""
    return RADIOMETRIC_OFFSET_DN if has_radiometric_offset(baseline) else 0.0


def platform_name(value: object) -> str | None:
    """A Sentinel-2 platform as STAC spells it ("Sentinel-2A", "S2A" -> "sentinel-2a").

    None when ``value`` is not a Sentinel-2 platform; "sentinel-2" when the unit is not named.
    """
    text = str(value or "").strip().lower()
    match = _PLATFORM_RE.match(text)
    if not match:
        return None
    return f"sentinel-2{match.group(1) or ''}"


def is_sentinel2(*values: object) -> bool:
    """Whether any of a platform or constellation value names Sentinel-2."""
    return any(platform_name(v) is not None for v in values)

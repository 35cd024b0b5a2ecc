"""Provider profiles: the one place where each source's way of writing Sentinel-2 is known.

Every STAC item is read through the first profile in :data:`PROFILES` that recognises it from
the item itself (its collection, its own properties, its links and hrefs), or through the
generic :class:`Profile`. Adding a provider is one module with a :class:`Profile` subclass,
its line in :data:`PROFILES`, and a test with one of its real items.
"""

from __future__ import annotations

import pystac

from inference.providers.base import AssetMetadataError, BandAsset, OffsetRule, Probe, Profile
from inference.providers.cdse import CopernicusDataSpace
from inference.providers.earth_search import EarthSearchC1L2A, EarthSearchL1C, EarthSearchL2A
from inference.providers.planetary_computer import PlanetaryComputer

PROFILES: tuple[Profile, ...] = (
    EarthSearchL2A(),
    EarthSearchC1L2A(),
    EarthSearchL1C(),
    PlanetaryComputer(),
    CopernicusDataSpace(),
)
GENERIC = Profile()


def choose_profile(item: pystac.Item) -> tuple[Profile, str]:
    """The profile that reads ``item``, and why it was chosen."""
    for profile in PROFILES:
        reason = profile.match(item)
        if reason:
            return profile, reason
    return GENERIC, "no provider recognised; STAC raster metadata and the baseline decide"


__all__ = [
    "GENERIC",
    "PROFILES",
    "AssetMetadataError",
    "BandAsset",
    "OffsetRule",
    "Probe",
    "Profile",
    "choose_profile",
]

"""Earth Search (Element 84): ``sentinel-2-l2a``, ``sentinel-2-c1-l2a`` and ``sentinel-2-l1c``.

Three collections, three conventions for the same ESA values:

- ``sentinel-2-l2a``: COGs converted from ESA's JP2, harmonised (the -1000 offset already
  subtracted) from baseline 04.00 on, and said so by ``earthsearch:boa_offset_applied``; but
  every band's ``raster:bands`` states offset -0.1 regardless.
- ``sentinel-2-c1-l2a``: COGs of ESA's own values (Collection 1 reprocessing); ``raster:bands``
  states their scale and offset, and is right.
- ``sentinel-2-l1c``: ESA's JPEG 2000 files in the requester-pays bucket ``sentinel-s2-l1c``,
  with a ``cirrus`` (B10) asset; values carry -1000 from baseline 04.00 on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pystac

from inference.conventions import RADIOMETRIC_OFFSET_DN, baseline_offset_dn, has_radiometric_offset
from inference.providers.base import (
    OffsetRule,
    Probe,
    Profile,
    baseline_rule,
    hrefs_under,
    prefixed_properties,
    stated_offsets,
)

if TYPE_CHECKING:
    from inference.settings import SourceSettings

FLAG = "earthsearch:boa_offset_applied"
HARMONISED_SHARE = 0.01
"""Share of valid blue DNs below 1000 from which COGs count as harmonised despite their flag."""
_PROBE_ASSET = "blue"


def _earth_search(item: pystac.Item, collection: str, bucket: str) -> str | None:
    if item.collection_id != collection:
        return None
    if prefixed_properties(item, "earthsearch:"):
        return f"collection {collection!r} with earthsearch:* properties"
    if hrefs_under(item, bucket):
        return f"collection {collection!r} with assets under {bucket}"
    return None


def harmonised_share(dn: np.ndarray) -> float:
    """Share of the valid (non-zero) DNs below 1000: reflectance below 0 if the -1000 offset
    were still in them, which only a few dark pixels of raw L2A values ever reach."""
    valid = dn[dn > 0]
    return float((valid < -RADIOMETRIC_OFFSET_DN).mean()) if valid.size else 0.0


class EarthSearchL2A(Profile):
    """Earth Search ``sentinel-2-l2a``: ``earthsearch:boa_offset_applied`` decides the offset.

    Decision, from the maintainers' and users' reports:

    - Flag true: the COGs are harmonised, so the offset is 0 and the ``raster:bands`` offset
      of -0.1 is ignored. Element 84 said so ("the offset property may be incorrectly set to
      -0.1 even when it has been applied ... the boa_offset_applied is the truth",
      Element84/earth-search#9), and #41 compared both collections to the same effect. No
      report has a true flag on values that still carry the offset.
    - Flag false (or absent) before baseline 04.00: nothing to remove, offset 0.
    - Flag false from baseline 04.00 on: the flag is known to be wrong in that direction only
      (harmonised COGs flagged false: 2022 items in #66 and cirrus-geo/cirrus-earth-search#33,
      2025 items in #71), and right on others (#66's 2022-01-26 example). The metadata cannot
      tell which, so the data do: the blue band's coarsest overview is read, and if more than
      1 % of its valid DNs lie below 1000 (negative reflectance were the offset still in
      them) the COGs are harmonised and the offset is 0; otherwise it is -1000.

    The ``*-jp2`` assets are ESA's raw files in a requester-pays bucket (not harmonised);
    they are not read, the COGs the flag speaks of are.
    """

    name = "earth-search-l2a"
    title = "Earth Search sentinel-2-l2a"

    def match(self, item: pystac.Item) -> str | None:
        return _earth_search(item, "sentinel-2-l2a", "https://sentinel-cogs.")

    def wanted(self, key: str, asset: pystac.Asset) -> bool:
        return not key.endswith("-jp2") and super().wanted(key, asset)

    def offset_rule(self, item: pystac.Item, probe: Probe) -> OffsetRule:
        flag = item.properties.get(FLAG)
        baseline = self.baseline(item)
        if flag is True:
            return OffsetRule(
                0.0, f"{FLAG} is true: harmonised COGs, raster:bands offset ignored (#9)"
            )
        if not has_radiometric_offset(baseline):
            return OffsetRule(0.0, f"{FLAG} is {flag}; {baseline_rule(baseline)}")
        dn = probe(_PROBE_ASSET)
        if dn is None:
            return OffsetRule(
                RADIOMETRIC_OFFSET_DN,
                f"{FLAG} is {flag} and the {_PROBE_ASSET} band could not be checked: "
                f"{RADIOMETRIC_OFFSET_DN:g} DN as the flag says",
            )
        share = harmonised_share(dn)
        if share > HARMONISED_SHARE:
            return OffsetRule(
                0.0,
                f"{FLAG} is {flag}, but {100 * share:.1f} % of the {_PROBE_ASSET} DNs are "
                "below 1000: harmonised COGs with a wrong flag (as in #66, #71), offset 0",
            )
        return OffsetRule(
            RADIOMETRIC_OFFSET_DN,
            f"{FLAG} is {flag} and only {100 * share:.2f} % of the {_PROBE_ASSET} DNs are "
            f"below 1000: ESA's values, {RADIOMETRIC_OFFSET_DN:g} DN",
        )


class EarthSearchC1L2A(Profile):
    """Earth Search ``sentinel-2-c1-l2a``: ESA's values, and ``raster:bands`` states their
    scale and offset rightly (Element84/earth-search#41); an asset stating none gets the
    baseline's."""

    name = "earth-search-c1-l2a"
    title = "Earth Search sentinel-2-c1-l2a"

    def match(self, item: pystac.Item) -> str | None:
        return _earth_search(item, "sentinel-2-c1-l2a", "https://e84-earth-search-sentinel-data.")

    def offset_rule(self, item: pystac.Item, probe: Probe) -> OffsetRule:
        fallback = baseline_offset_dn(self.baseline(item))
        return OffsetRule(None, "ESA's values with raster:bands scale and offset (#41)", fallback)


class EarthSearchL1C(Profile):
    """Earth Search ``sentinel-2-l1c``: ESA's own JPEG 2000 files, read with requester pays.

    The values are never harmonised, so the baseline decides the offset (-1000 DN from 04.00);
    ``raster:bands`` has agreed on every item seen, and a disagreement is logged.
    """

    name = "earth-search-l1c"
    title = "Earth Search sentinel-2-l1c"

    def match(self, item: pystac.Item) -> str | None:
        return _earth_search(item, "sentinel-2-l1c", "s3://sentinel-s2-l1c/")

    def offset_rule(self, item: pystac.Item, probe: Probe) -> OffsetRule:
        baseline = self.baseline(item)
        offset = baseline_offset_dn(baseline)
        reason = f"ESA's JPEG 2000 values: {baseline_rule(baseline)}"
        stated = {round(float(o) / float(s or 1e-4)) for s, o in stated_offsets(item).values()}
        if stated and stated != {round(offset)}:
            reason += f" (raster:bands states {sorted(stated)} DN; not followed)"
        return OffsetRule(offset, reason)

    def gdal_options(self, settings: SourceSettings) -> dict[str, str]:
        # The bucket is requester-pays and lives in eu-central-1 (registry.opendata.aws/sentinel-2).
        return {"AWS_REQUEST_PAYER": "requester", "AWS_REGION": "eu-central-1"}

"""The names of a mask item's own properties, for those who write, query and order by them."""

from __future__ import annotations

from catalog.legend import LEGEND

CLOUD_COVER = "eo:cloud_cover"
"""Cloud and semi-transparent cloud, in percent of the valid pixels."""
SEMI_TRANSPARENT_RULE = "kappacat:semi_transparent_cloud_rule"
"""The property saying what made the item's semi-transparent cloud (class 3)."""


def percentage_property(name: str) -> str:
    """The property with the share of one class, e.g. ``kappacat:cloud_percentage``."""
    return f"kappacat:{name}_percentage"


def class_share_properties() -> dict[int, str]:
    """Legend value -> the property with that class's share (every class but no data)."""
    return {c.value: percentage_property(c.name) for c in LEGEND if c.value}

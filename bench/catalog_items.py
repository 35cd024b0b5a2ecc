"""Many mask items for the catalogue benchmarks: one real item, varied like a European archive.

The template is a real mask item (``bench_tiles_data``: built by ``build_mask_item`` from a
full-size COG); each copy gets its own product id, date (2017 to 2024), footprint on a
1 x 1 degree grid over Europe (10 W to 30 E, 36 to 70 N), cloud cover and class shares, and
mask href. Every copy validates as the template does.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_tiles_data import make_items
from catalog.properties import percentage_property

WEST, EAST, SOUTH, NORTH = -10, 30, 36, 70
START = datetime(2017, 1, 1, 10, 30, tzinfo=UTC)
DAYS = 8 * 365
CLASSES = ("clear", "cloud_shadow", "semi_transparent_cloud", "cloud", "missing")


def template(cache: Path) -> dict[str, Any]:
    """A real mask item to copy."""
    return make_items(cache)[0]


def synthetic_items(base: dict[str, Any], count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct items like ``base``, reproducible for a seed."""
    rng = np.random.default_rng(seed)
    lons = rng.integers(WEST, EAST, count)
    lats = rng.integers(SOUTH, NORTH, count)
    days = rng.integers(0, DAYS, count)
    shares = rng.dirichlet(np.full(len(CLASSES), 0.6), count) * 100
    items = []
    for n in range(count):
        item = copy.deepcopy(base)
        when = START + timedelta(days=int(days[n]), minutes=int(n % 600))
        stamp = when.strftime("%Y%m%dT%H%M%S")
        orbit = 1 + n % 143
        item["id"] = f"S2{'AB'[n % 2]}_MSIL1C_{stamp}_N0509_R{orbit:03d}_T{n:05d}_{stamp}"
        west, south = float(lons[n]), float(lats[n])
        ring = [[west, south], [west + 1, south], [west + 1, south + 1], [west, south + 1]]
        item["geometry"] = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
        item["bbox"] = [west, south, west + 1, south + 1]
        props = item["properties"]
        props["datetime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        props["sat:relative_orbit"] = orbit
        props["platform"] = f"sentinel-2{'ab'[n % 2]}"
        for name, share in zip(CLASSES, shares[n], strict=True):
            props[percentage_property(name)] = round(float(share), 4)
        props["eo:cloud_cover"] = round(float(shares[n][2] + shares[n][3]), 3)
        props["processing:lineage"] = f"Cloud mask of {item['id']} by model bench"
        item["assets"]["mask"]["href"] = f"s3://kappacat-masks/bench/{item['id']}/mask.tif"
        for link in item["links"]:
            if link["rel"] == "derived_from":
                link["href"] = f"file:///eodata/{item['id']}.SAFE"
                link["title"] = f"Source product {item['id']}"
        items.append(item)
    return items

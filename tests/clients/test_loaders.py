"""Published masks load in stackstac and odc-stac as their users call them, on the COG's grid.

The masks are real COGs (the pipeline's writer), their items built by the pipeline's item
builder and published into pgstac; ``kappacat serve api`` serves both the items and, under
``/assets``, the COGs, which the loaders read over HTTP. Neither loader is given a CRS, a
resolution or bounds: they must find the grid in the items' projection fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import odc.stac
import pytest
import rasterio
import stackstac
from affine import Affine
from pystac_client import Client
from rasterio.enums import Resampling

from catalog.collections import L1C
from catalog.settings import with_database
from catalog.stac_validation import StacValidator
from inference.product import MaskResult
from ingest.items import build_mask_item, item_dict
from ingest.publish import publish_items
from tests.database import create_database, drop_database
from tests.factories import product_info, write_mask_cog
from tests.servers import serve

pytestmark = pytest.mark.integration

DAYS = 2  # masks of the same MGRS tile on two days: the same grid, different pixels


@dataclass(frozen=True)
class Cog:
    """What the loaders must reproduce: the COG's grid and pixels."""

    crs: rasterio.crs.CRS
    transform: Affine
    shape: tuple[int, int]
    pixels: np.ndarray


@dataclass(frozen=True)
class Catalogue:
    """A running API and the masks it publishes, in date order."""

    url: str
    cogs: list[Cog]


@pytest.fixture(scope="module")
def catalogue(
    pg_admin_url: str,
    template_database: str,
    validator: StacValidator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Catalogue]:
    """``kappacat serve api`` over ``DAYS`` published masks, whose COGs it serves itself."""
    assets = tmp_path_factory.mktemp("assets")
    name = f"kappacat_loaders_{uuid.uuid4().hex[:10]}"
    create_database(pg_admin_url, name, template=template_database)
    url = with_database(pg_admin_url, name)
    env = {"KAPPACAT_DATABASE_URL": url, "KAPPACAT_API_ASSETS_DIR": str(assets)}
    try:
        with serve("api", env, "/_mgmt/health") as api:
            items, cogs = [], []
            for day in range(DAYS):
                path = assets / f"mask-{day}.tif"
                write_mask_cog(path, seed=day)
                values, counts = np.unique(rasterio.open(path).read(1), return_counts=True)
                result = MaskResult(
                    path=path,
                    product=product_info(day),
                    class_counts={int(v): int(n) for v, n in zip(values, counts, strict=True)},
                    model_id="ukis-csmask-6b-l1c",
                    model_card={"id": "ukis-csmask-6b-l1c"},
                )
                items.append(item_dict(build_mask_item(result, f"{api}/assets/{path.name}")))
                with rasterio.open(path) as src:
                    cogs.append(Cog(src.crs, src.transform, src.shape, src.read(1)))
            publish_items(url, {"loaders": items}, validator)
            yield Catalogue(api, cogs)
    finally:
        drop_database(pg_admin_url, name)


def search(catalogue: Catalogue) -> object:
    """The search a notebook user runs: the L1C masks of the two days."""
    return Client.open(catalogue.url).search(
        collections=[L1C], datetime="2023-06-01/2023-06-02", sortby="datetime"
    )


def test_stackstac_loads_the_masks_on_their_own_grid(catalogue: Catalogue) -> None:
    # Plain item dicts: pystac (1.12 and later) rewrites proj:epsg into proj:code when it reads
    # an item, and stackstac 0.5 reads only proj:epsg (stackstac issue #262).
    items = list(search(catalogue).items_as_dicts())  # type: ignore[attr-defined]
    stack = stackstac.stack(
        items,
        assets=["mask"],
        dtype="uint8",
        fill_value=np.uint8(0),  # numpy 2 refuses to cast a Python int (stackstac 0.5)
        rescale=False,
        resampling=Resampling.nearest,
    )
    first = catalogue.cogs[0]
    assert stack.shape == (DAYS, 1, *first.shape)
    assert stack.attrs["crs"].upper() == first.crs.to_string().upper()
    assert Affine(*stack.attrs["transform"][:6]) == first.transform
    loaded = stack.values
    for day, cog in enumerate(catalogue.cogs):
        np.testing.assert_array_equal(loaded[day, 0], cog.pixels)


def test_odc_stac_loads_the_masks_on_their_own_grid(catalogue: Catalogue) -> None:
    items = list(search(catalogue).items())  # type: ignore[attr-defined]
    data = odc.stac.load(items, bands=["mask"])
    first = catalogue.cogs[0]
    geobox = data.odc.geobox
    assert geobox.crs.epsg == first.crs.to_epsg()
    assert geobox.affine == first.transform
    assert tuple(geobox.shape) == first.shape
    assert data["mask"].dtype == np.uint8
    for day, cog in enumerate(catalogue.cogs):
        np.testing.assert_array_equal(data["mask"].values[day], cog.pixels)

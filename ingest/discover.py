"""``kappacat discover``: search a provider's STAC API and submit what is new, without flooding.

Search results are paged lazily by pystac-client; before each product is submitted,
discovery waits while the job table holds more than ``max_queued`` queued or running jobs,
so a search of a whole continent never piles up more work than the workers can take.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystac_client import Client, ConformanceClasses
from pystac_client.exceptions import APIError

from catalog.collections import EUROPE_BBOX
from ingest.errors import SourceError
from ingest.pipeline import ModelFor, Pipeline, SourceRef
from ingest.sources import collection_for

logger = logging.getLogger(__name__)

AOIS: dict[str, list[float]] = {"europe": EUROPE_BBOX}
"""Named areas for ``--aoi``: the European Sentinel-2 tiles, Canaries to the North Cape."""


@dataclass
class Search:
    """What to look for in the source catalogue."""

    stac_url: str
    collections: list[str]
    bbox: list[float] | None = None
    intersects: dict[str, Any] | None = None
    datetime: str | None = None
    max_cloud: float | None = None
    limit: int | None = None
    timeout_s: float = 60.0


@dataclass
class DiscoverReport:
    """What a discovery run found and did."""

    found: int = 0
    submitted: int = 0
    known: int = 0
    waited_s: float = 0.0

    def line(self) -> str:
        """A human summary."""
        return (
            f"found {self.found} product(s): {self.submitted} submitted, "
            f"{self.known} already known; waited {self.waited_s:.0f} s for the queue to drain"
        )


def read_geometry(path: Path) -> dict[str, Any]:
    """A GeoJSON geometry from a file holding a geometry, a Feature or a FeatureCollection."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceError(f"{path}: cannot read GeoJSON: {exc}") from exc
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features") or []
        if len(features) != 1:
            raise SourceError(f"{path}: give one area (this holds {len(features)} features)")
        doc = features[0]
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = doc.get("geometry")
    if not isinstance(doc, dict) or "coordinates" not in doc:
        raise SourceError(f"{path}: no GeoJSON geometry found")
    return doc


def _item_source(item: dict[str, Any], search: Search) -> str:
    for link in item.get("links") or []:
        if link.get("rel") == "self" and link.get("href"):
            return str(link["href"])
    collection = item.get("collection") or search.collections[0]
    return f"{search.stac_url.rstrip('/')}/collections/{collection}/items/{item['id']}"


def item_ref(item: dict[str, Any], search: Search) -> SourceRef:
    """What to submit for one item a search found: its id, its URL, its mask collection."""
    item_id = str(item["id"])
    return SourceRef(
        item_id, _item_source(item, search), collection_for(item_id, item.get("properties"))
    )


def wait_for_room(
    pipeline: Pipeline, max_queued: int, poll_s: float, on_wait: Callable[[int], None] | None
) -> float:
    """Block while too many jobs are active; returns the seconds waited."""
    waited = 0.0
    while True:
        active = pipeline.store.counts().active
        if active < max_queued:
            return waited
        if on_wait is not None:
            on_wait(active)
        time.sleep(poll_s)
        waited += poll_s


def search_kwargs(client: Client, search: Search) -> dict[str, Any]:
    """pystac-client's search arguments for ``search`` (a cloud bound in what the API takes)."""
    kwargs: dict[str, Any] = {
        "collections": search.collections,
        "bbox": search.bbox,
        "intersects": search.intersects,
        "datetime": search.datetime,
        "max_items": search.limit,
        "limit": min(search.limit or 100, 100),
    }
    if search.max_cloud is not None:
        if client.conforms_to(ConformanceClasses.FILTER):
            kwargs["filter"] = {
                "op": "<=",
                "args": [{"property": "eo:cloud_cover"}, search.max_cloud],
            }
            kwargs["filter_lang"] = "cql2-json"
        else:  # older APIs only have the query extension
            kwargs["query"] = {"eo:cloud_cover": {"lte": search.max_cloud}}
    return kwargs


def discover(
    pipeline: Pipeline,
    search: Search,
    *,
    model: str | ModelFor,
    force: bool = False,
    max_queued: int = 500,
    poll_s: float = 5.0,
    on_wait: Callable[[int], None] | None = None,
) -> DiscoverReport:
    """Search ``search.stac_url`` and submit every product found (new ones become jobs)."""
    try:
        client = Client.open(search.stac_url, timeout=search.timeout_s)
        kwargs = search_kwargs(client, search)
        items = client.search(**kwargs).items_as_dicts()
        report = DiscoverReport()
        for item in items:
            report.found += 1
            report.waited_s += wait_for_room(pipeline, max_queued, poll_s, on_wait)
            (outcome,) = pipeline.submit([item_ref(item, search)], model, force=force)
            if outcome.dispatch:
                report.submitted += 1
            else:
                report.known += 1
    except APIError as exc:
        raise SourceError(f"{search.stac_url}: the STAC API refused the search: {exc}") from exc
    except OSError as exc:  # requests' connection errors are OSErrors
        raise SourceError(f"{search.stac_url}: cannot reach the STAC API: {exc}") from exc
    return report

"""The three stages of a job: fetch (read and check the product), infer (make the mask and put
it in storage), publish (upsert the item and record success in one transaction).

Each stage ends by handing the job on (:meth:`Pipeline.advance`) or finishing it; both are
guarded by the job's message, so a worker that lost its job changes nothing. Bad input
raises :class:`BadInputError`; anything else is transient and retried by the worker.
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any

from catalog.collections import COLLECTION_FOR_LEVEL
from inference.product import ProductInfo
from ingest.errors import BadInputError, JobLost
from ingest.jobs import Job
from ingest.metrics import INFERENCE_PIXELS, INFERENCE_PRODUCTS, INFERENCE_SECONDS, PUBLISHED
from ingest.models import card_for_job, inference_settings
from ingest.publish import is_published, publish_item

if TYPE_CHECKING:
    from ingest.runtime import Lease, Runtime, Stage

logger = logging.getLogger(__name__)

PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
"""What a product id may be: it becomes the item id (a URL path segment) and a storage key."""
MGRS_TILE = re.compile(r"[0-9]{1,2}[C-HJ-NP-X][A-HJ-NP-Z]{2}")
"""An MGRS tile such as 32UQD: zone, latitude band, 100 km square."""


def check_names(info: ProductInfo) -> None:
    """Refuse a product whose id or tile could not safely name its item and its files."""
    if not PRODUCT_ID.fullmatch(info.id):
        raise BadInputError(
            f"product id {info.id!r} is not allowed: an id names the item and its files, so it "
            "must start with a letter or digit and hold only letters, digits, '_', '.' and '-' "
            "(at most 200)"
        )
    if not MGRS_TILE.fullmatch(info.mgrs_tile):
        raise BadInputError(
            f"{info.id}: MGRS tile {info.mgrs_tile!r} (s2:mgrs_tile or grid:code) is not a tile "
            "such as 32UQD"
        )


def storage_prefix(job: Job, product: dict[str, Any]) -> str:
    """Where a job's files go: ``<collection>/<tile>/<yyyy>/<mm>/<dd>/<product>/<model>``."""
    when = datetime.fromisoformat(product["datetime"])
    return f"{job.collection}/{product['mgrs_tile']}/{when:%Y/%m/%d}/{product['id']}/{job.model}"


def _product_json(info: ProductInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "level": info.level,
        "datetime": info.datetime.isoformat(),
        "mgrs_tile": info.mgrs_tile,
        "platform": info.platform,
        "processing_baseline": info.processing_baseline,
    }


def fetch(rt: Runtime, job: Job, lease: Lease) -> None:
    """Read the product's metadata: a Sentinel-2 product the model takes, with its bands?"""
    from inference import ProductError, open_product

    started = perf_counter()
    card = card_for_job(job)
    try:
        with open_product(job.source) as reader:
            info = reader.info
            if info.level not in card.levels:
                raise BadInputError(
                    f"{info.id}: model {card.id} takes {'/'.join(card.levels)} products, "
                    f"not {info.level}"
                )
            reader.check_bands(card.bands)
    except ProductError as exc:
        raise BadInputError(str(exc)) from exc
    check_names(info)
    collection = COLLECTION_FOR_LEVEL.get(info.level)
    if collection is None:
        raise BadInputError(f"{info.id}: unknown product level {info.level!r}")
    lease.check()
    timings = {"fetch": round(perf_counter() - started, 3)}
    with rt.store.pool.connection() as conn:
        known = not job.force and is_published(conn, collection, info.id, job.model)
    if known:
        with rt.store.transaction() as conn:
            rt.store.finish(conn, job, "skipped", error="already in the catalogue", timings=timings)
        logger.info("%s is already in %s; skipped", info.id, collection)
        return
    rt.pipeline.advance(
        job, "infer", timings=timings, collection=collection, product=_product_json(info)
    )


def infer(rt: Runtime, job: Job, lease: Lease) -> None:
    """Make the mask, put it (thumbnail first, COG last) in storage, and build its item."""
    from inference import ProductError, run_mask
    from ingest.items import build_mask_item, item_dict

    if job.product is None or job.collection is None:
        raise BadInputError(f"job {job.id} reached inference without product metadata")
    started = perf_counter()
    workdir = rt.work_dir / f"job-{job.id}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    try:
        try:
            result = run_mask(
                job.source,
                workdir / "mask.tif",
                card=card_for_job(job),
                settings=inference_settings(),
            )
        except ProductError as exc:
            raise BadInputError(str(exc)) from exc
        inferred = perf_counter()
        INFERENCE_PRODUCTS.labels(job.model).inc()
        INFERENCE_PIXELS.labels(job.model).inc(sum(result.class_counts.values()))
        INFERENCE_SECONDS.labels(job.model).inc(inferred - started)
        lease.check()
        prefix = storage_prefix(job, job.product)
        output: dict[str, Any] = {"mask_key": f"{prefix}/mask.tif"}
        thumbnail_href = None
        if result.thumbnail_path is not None and result.thumbnail_path.exists():
            output["thumbnail_key"] = f"{prefix}/thumbnail.png"
            output["thumbnail_size"] = rt.storage.put_file(
                output["thumbnail_key"], result.thumbnail_path, "image/png"
            )
            thumbnail_href = rt.storage.href(output["thumbnail_key"])
        mask_href = rt.storage.href(output["mask_key"])
        item = item_dict(build_mask_item(result, mask_href, thumbnail_href=thumbnail_href))
        output["mask_size"] = rt.storage.put_file(
            output["mask_key"],
            result.path,
            "image/tiff; application=geotiff; profile=cloud-optimized",
        )
        output["item"] = item
        timings = {k: round(float(v), 3) for k, v in result.timings.items()}
        timings["upload"] = round(perf_counter() - inferred, 3)
        timings["infer_stage"] = round(perf_counter() - started, 3)
        rt.pipeline.advance(job, "publish", timings=timings, output=output, output_href=mask_href)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def publish(rt: Runtime, job: Job, lease: Lease) -> None:
    """Upsert the item and mark the job succeeded together, once its files are whole in storage."""
    started = perf_counter()
    output = job.output or {}
    item = output.get("item")
    if not item:
        raise BadInputError(f"job {job.id} reached publishing without an item")
    for key, size in (
        (output.get("thumbnail_key"), output.get("thumbnail_size")),
        (output["mask_key"], output["mask_size"]),
    ):
        if key and rt.storage.size(key) != size:
            logger.warning("%s is missing or incomplete in storage; making the mask again", key)
            rt.pipeline.advance(job, "infer")
            return
    lease.check()
    with rt.store.transaction() as conn:
        if not rt.store.hold(conn, job):
            raise JobLost(f"job {job.id} was taken back by recovery before publishing")
        publish_item(conn, item, rt.validator)
        rt.store.finish(
            conn,
            job,
            "succeeded",
            timings={"publish": round(perf_counter() - started, 3)},
            output_href=item["assets"]["mask"]["href"],
        )
    PUBLISHED.labels(item["collection"]).inc()
    logger.info("published %s in %s", item["id"], item["collection"])


STAGE_FUNCTIONS: dict[str, Stage] = {"fetch": fetch, "infer": infer, "publish": publish}

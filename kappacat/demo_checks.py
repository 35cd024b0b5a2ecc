"""What the demo prints and checks once it runs, and the one repair a moved port needs."""

from __future__ import annotations

import json

import httpx
import psycopg
import typer

NOTEBOOK_SEARCH = {
    "collections": ["sentinel-2-l2a-kappamask"],
    "bbox": [11.9, 53.0, 12.3, 53.3],
    "datetime": "2024-06-01/2024-06-30",
    "max_cloud_cover": 40,
}
"""The README's notebook search; it matches the demo's sample products (MGRS tile 32UQD on
the Elbe, June 2024)."""


class DemoError(RuntimeError):
    """A demo step failed; the message says which and why."""


def notebook_snippet(api: str) -> str:
    """The README's "Search from a notebook" code for an API at ``api``."""
    s = NOTEBOOK_SEARCH
    return f"""from pystac_client import Client

catalog = Client.open("{api}")
search = catalog.search(
    collections={json.dumps(s["collections"])},
    bbox={json.dumps(s["bbox"])},
    datetime="{s["datetime"]}",
    filter={{"op": "<", "args": [{{"property": "eo:cloud_cover"}}, {s["max_cloud_cover"]}]}},
    filter_lang="cql2-json",
)
for item in search.items():
    print(item.id, item.properties["eo:cloud_cover"], item.assets["mask"].href)
"""


def print_urls(api: str, tiler: str, metrics: dict[str, str] | None = None) -> None:
    """Tell the user where everything is (``metrics``: component -> its ``/metrics`` URL)."""
    typer.echo("")
    typer.secho("KappaCat is running:", bold=True)
    typer.echo(f"  STAC API   {api}/")
    typer.echo(f"  API docs   {api}/api.html")
    typer.echo(f"  Web map    {tiler}/viewer")
    if metrics:
        typer.echo("")
        typer.echo("Prometheus metrics (loopback only):")
        for name, url in metrics.items():
            typer.echo(f"  {name:<10} {url}")
    typer.echo("")
    typer.echo("Search it from Python (the README's notebook snippet):")
    typer.echo("".join(f"  {line}\n" for line in notebook_snippet(api).splitlines()))


METRIC_FAMILIES = {
    "api": "http_requests_total",
    "tiler": "http_requests_total",
    "worker": "kappacat_jobs",
}
"""A family each component's ``/metrics`` has once it has served (or done) anything."""


def check_metrics(metrics: dict[str, str]) -> None:
    """Raise DemoError unless each component's ``/metrics`` answers with its families."""
    for name, url in metrics.items():
        try:
            answer = httpx.get(url, timeout=10)
        except httpx.HTTPError as exc:
            raise DemoError(f"the {name} metrics at {url} do not answer: {exc}") from exc
        family = METRIC_FAMILIES[name]
        if answer.status_code != 200 or f"# TYPE {family} " not in answer.text:
            raise DemoError(f"the {name} metrics at {url} lack {family} ({answer.status_code})")
    typer.echo(f"checked: metrics of {', '.join(metrics)} scraped")


def move_links(database: str, old: str, new: str) -> int:
    """Point published hrefs under ``old`` at ``new`` (the API moved to another port).

    Items are read and written back through pgstac's own functions; returns how many moved.
    """
    moved = 0
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT id, collection FROM pgstac.items WHERE content::text LIKE %s",
            (f"%{old}%",),
        ).fetchall()
        for item_id, collection in rows:
            item = conn.execute("SELECT pgstac.get_item(%s, %s)", (item_id, collection)).fetchone()
            if item is None or item[0] is None:
                continue
            text = json.dumps(item[0]).replace(old, new)
            conn.execute("SELECT pgstac.upsert_item(%s::jsonb)", (text,))
            moved += 1
    return moved


def check_catalogue(api: str, tiler: str) -> None:
    """Raise DemoError unless masks are searchable and readable, tiles draw and the map loads."""
    import morecantile
    from pystac_client import Client

    items = list(
        Client.open(api)
        .search(collections=["sentinel-2-l1c-kappamask", "sentinel-2-l2a-kappamask"])
        .items()
    )
    if not items:
        raise DemoError("the STAC API answers but holds no masks")
    mask = items[0].assets["mask"].href
    if httpx.head(mask, timeout=10).status_code != 200:
        raise DemoError(f"the mask of {items[0].id} cannot be read at {mask}")
    west, south, east, north = items[0].bbox or (0.0, 0.0, 0.0, 0.0)
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, 12)
    url = (
        f"{tiler}/collections/{items[0].collection_id}/items/{items[0].id}"
        f"/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
    )
    drawn = httpx.get(url, timeout=30)
    if drawn.status_code != 200 or not drawn.content.startswith(b"\x89PNG"):
        problem = f"{drawn.status_code} {drawn.text[:200]}"
        raise DemoError(f"the tiler cannot draw {items[0].id}: {problem}")
    viewer = httpx.get(f"{tiler}/viewer", timeout=10)
    if viewer.status_code != 200 or "maplibre" not in viewer.text.lower():
        raise DemoError("the web map page does not load")
    docs = httpx.get(f"{api}/api.html", timeout=10)
    if docs.status_code != 200:
        raise DemoError(f"the API docs page answers {docs.status_code}")
    typer.echo(
        f"checked: {len(items)} masks searchable, mask COG readable, a tile drawn, web map served"
    )

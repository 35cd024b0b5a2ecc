"""Validate STAC items and collections against the core and extension JSON schemas, offline.

Schemas come from a folder with an ``index.json`` mapping schema URLs to files (the layout of
``shared/data/stac-schemas``); nothing is fetched from the internet. A schema that is declared
but not in the folder is an error, not a silent pass. A schema that a declared one refers to
and the folder lacks (PROJJSON's, for ``proj:projjson``) accepts anything. Schemas of
extensions KappaCat adds itself and the folder may lack (web-map-links, for the links the API
adds to what it serves) come with the package (``catalog/schemas``).

Validation is jsonschema-rs's (compiled once per schema, about 0.1 ms an item; the pure
Python ``jsonschema`` takes 6 to 12 ms, which would cap bulk publishing near 100 items/s).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

from jsonschema_rs import Draft7Validator

from catalog.settings import StacSchemaSettings

PACKAGED = {
    "https://stac-extensions.github.io/web-map-links/v1.2.0/schema.json": (
        "web-map-links-v1.2.0.json"
    ),
}
"""Extension schemas shipped in ``catalog/schemas``, used when the folder has none of its own."""

CORE = {
    "Feature": "https://schemas.stacspec.org/v{v}/item-spec/json-schema/item.json",
    "Collection": "https://schemas.stacspec.org/v{v}/collection-spec/json-schema/collection.json",
    "Catalog": "https://schemas.stacspec.org/v{v}/catalog-spec/json-schema/catalog.json",
}


class StacValidationError(ValueError):
    """A STAC object does not validate; ``errors`` lists each problem."""

    def __init__(self, what: str, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(f"{what} is not valid STAC: " + "; ".join(errors[:5]))


def _bare(url: str) -> str:
    return urldefrag(url).url


TEMPLATE_VARIABLE = re.compile(r"\{([A-Za-z]+)\}")
WEB_MAP_RELS = frozenset({"xyz", "wmts", "wms", "tilejson", "pmtiles", "3d-tiles"})


def _untemplated(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with the URI-template variables (``{z}``, ``{x}``, ``{y}``, ``{s}``) of its
    web-map links percent-encoded, for the core schemas' ``iri-reference`` check: the
    web-map-links extension defines such hrefs as templates, which no IRI may contain."""
    links = obj.get("links")
    if not isinstance(links, list) or not any(
        isinstance(link, dict) and link.get("rel") in WEB_MAP_RELS for link in links
    ):
        return obj
    encoded = []
    for link in links:
        if isinstance(link, dict) and link.get("rel") in WEB_MAP_RELS:
            href = link.get("href")
            if isinstance(href, str):
                link = {**link, "href": TEMPLATE_VARIABLE.sub(r"%7B\1%7D", href)}
        encoded.append(link)
    return {**obj, "links": encoded}


def _packaged() -> dict[str, dict[str, Any]]:
    root = files("catalog.schemas")
    return {url: json.loads(root.joinpath(name).read_text()) for url, name in PACKAGED.items()}


@lru_cache(maxsize=8)
def _load_index(schemas_dir: Path | None) -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    if schemas_dir is None:
        # Only the core schemas pystac ships.
        root = files("pystac.validation.jsonschemas")
        base = root.joinpath("stac-spec/v1.1.0")
        for name in ("Feature", "Geometry"):
            schemas[f"https://geojson.org/schema/{name}.json"] = json.loads(
                root.joinpath(f"geojson/{name}.json").read_text()
            )
        for name, url in (
            ("item.json", CORE["Feature"]),
            ("collection.json", CORE["Collection"]),
            ("catalog.json", CORE["Catalog"]),
        ):
            schemas[url.format(v="1.1.0")] = json.loads(base.joinpath(name).read_text())
        for entry in base.iterdir():
            url = f"https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/{entry.name}"
            schemas.setdefault(url, json.loads(entry.read_text()))
        return schemas
    index = json.loads((schemas_dir / "index.json").read_text(encoding="utf-8"))
    for url, rel in index.items():
        schemas[_bare(url)] = json.loads((schemas_dir / rel).read_text(encoding="utf-8"))
    for url, schema in _packaged().items():
        schemas.setdefault(url, schema)
    return schemas


class StacValidator:
    """Validates STAC objects against schemas from one folder (or pystac's core copies)."""

    def __init__(self, schemas_dir: Path | None = None) -> None:
        self.schemas = _load_index(schemas_dir.resolve() if schemas_dir else None)
        self._validators: dict[str, Draft7Validator] = {}

    def _retrieve(self, uri: str) -> dict[str, Any]:
        return self.schemas.get(_bare(uri), {})

    def _validator(self, url: str) -> Draft7Validator:
        found = self._validators.get(url)
        if found is None:
            found = Draft7Validator(self.schemas[url], retriever=self._retrieve, base_uri=url)
            self._validators[url] = found
        return found

    @classmethod
    def from_settings(cls, settings: StacSchemaSettings | None = None) -> StacValidator:
        """A validator using the configured schema folder."""
        settings = settings or StacSchemaSettings()
        return cls(settings.schemas_dir)

    @property
    def offline_extensions(self) -> bool:
        """Whether extension schemas are available (else only core is checked)."""
        return any("stac-extensions.github.io" in url for url in self.schemas)

    def errors(self, obj: dict[str, Any]) -> list[str]:
        """Every problem with ``obj``, as readable strings; empty when it is valid."""
        kind = obj.get("type")
        if kind not in CORE:
            return [f"'type' must be one of {sorted(CORE)}, got {kind!r}"]
        version = obj.get("stac_version", "")
        urls = [CORE[kind].format(v=version)]
        extensions = obj.get("stac_extensions", [])
        if self.offline_extensions:
            urls += [_bare(u) for u in extensions]
        problems: list[str] = []
        core = _untemplated(obj)
        for url in urls:
            if url not in self.schemas:
                problems.append(f"no schema for {url} (not in the offline schema folder)")
                continue
            errors = self._validator(url).iter_errors(core if url == urls[0] else obj)
            for err in sorted(errors, key=lambda e: [str(p) for p in e.instance_path]):
                where = "/".join(str(p) for p in err.instance_path) or "(root)"
                problems.append(f"{url.rsplit('/', 3)[-3]}: {where}: {err.message[:300]}")
        return problems

    def validate(self, obj: dict[str, Any], what: str | None = None) -> None:
        """Raise :class:`StacValidationError` when ``obj`` is not valid."""
        problems = self.errors(obj)
        if problems:
            raise StacValidationError(what or f"{obj.get('type')} {obj.get('id')!r}", problems)

    def validate_all(self, objs: Iterable[dict[str, Any]]) -> None:
        """Validate many objects, stopping at the first invalid one."""
        for obj in objs:
            self.validate(obj)

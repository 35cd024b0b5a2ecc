"""The catalogue's data model and what every component shares: the ground floor of KappaCat.

The mask legend and what its classes mean (:mod:`catalog.legend`), the two collections
(:mod:`catalog.collections`), the queryable item properties (:mod:`catalog.queryables`), the
aggregations the STAC API offers (:mod:`catalog.aggregations`), STAC extension URLs
(:mod:`catalog.stac_ext`) and offline validation (:mod:`catalog.stac_validation`); the shared
settings (:mod:`catalog.settings`), CQL2 parsing with its limits (:mod:`catalog.cql2`), pgstac
handles (:mod:`catalog.db`), and the HTTP conventions of both services (:mod:`catalog.web`,
:mod:`catalog.apidocs`).

``inference``, ``ingest``, ``catalog_api`` and ``tiler`` import it; it imports none of them.
"""

from __future__ import annotations

__version__ = "0.1.0"

"""Request cases for ``test_api.py``: query operators and malformed searches."""

from __future__ import annotations

from typing import Any

from catalog.collections import L1C

# (property, operators, which items match): every operator of the query extension, with
# numbers given as strings too (they are compared as numbers, the queryable's type).
QUERIES: list[tuple[str, dict[str, Any], Any]] = [
    ("sat:relative_orbit", {"eq": 30}, lambda p: p["sat:relative_orbit"] == 30),
    ("sat:relative_orbit", {"neq": 30}, lambda p: p["sat:relative_orbit"] != 30),
    ("sat:relative_orbit", {"lt": "40"}, lambda p: p["sat:relative_orbit"] < 40),
    ("sat:relative_orbit", {"lte": 40}, lambda p: p["sat:relative_orbit"] <= 40),
    ("eo:cloud_cover", {"gt": 60.5}, lambda p: p["eo:cloud_cover"] > 60.5),
    ("eo:cloud_cover", {"gte": "60.5", "lt": 80}, lambda p: 60.5 <= p["eo:cloud_cover"] < 80),
    ("platform", {"startsWith": "sentinel-2"}, lambda p: True),
    ("platform", {"endsWith": "2b"}, lambda p: p["platform"] == "sentinel-2b"),
    ("grid:code", {"contains": "32U"}, lambda p: True),
    ("platform", {"contains": "2%"}, lambda p: False),  # % is a literal, not a wildcard
    ("platform", {"in": ["sentinel-2a", "sentinel-2c"]}, lambda p: p["platform"] == "sentinel-2a"),
    ("instruments", {"in": ["msi"]}, lambda p: True),  # an array: matches any element
    ("instruments", {"in": ["olci", "sral"]}, lambda p: False),
]

# (what, method, parameters or body, status)
MALFORMED: list[tuple[str, str, dict[str, Any], int]] = [
    ("bbox with 3 numbers", "GET", {"bbox": "1,2,3"}, 400),
    ("bbox of words", "GET", {"bbox": "a,b,c,d"}, 400),
    ("bbox south above north", "POST", {"bbox": [10, 50, 5, 40]}, 400),
    ("unknown collection", "GET", {"collections": "nope"}, 404),
    ("unknown collection", "POST", {"collections": ["nope", L1C]}, 404),
    ("broken cql2-text", "GET", {"filter": "eo:cloud_cover << 3"}, 400),
    ("broken cql2-json", "GET", {"filter": '{"op":', "filter-lang": "cql2-json"}, 400),
    ("broken cql2-text", "POST", {"filter": "eo:cloud_cover << 3", "filter-lang": "cql2-text"},
     400),
    ("unknown filter-lang", "POST", {"filter": "id = 'x'", "filter-lang": "cql2-xml"}, 400),
    ("cql2-json without args", "POST", {"filter": {"op": "<", "args": []}}, 400),
    ("unknown cql2 function", "POST", {"filter": {"op": "frob", "args": [1]}}, 400),
    ("negative limit", "GET", {"limit": -1}, 400),
    ("negative limit", "POST", {"limit": -1}, 400),
    ("bad datetime", "GET", {"datetime": "yesterday"}, 400),
    ("datetime range reversed", "POST", {"datetime": "2024-01-01T00:00:00Z/2023-01-01T00:00:00Z"},
     400),
    ("unknown sortby field", "POST", {"sortby": [{"field": "nope", "direction": "asc"}]}, 400),
    ("sortby direction", "POST", {"sortby": [{"field": "id", "direction": "up"}]}, 400),
    ("query not JSON", "GET", {"query": "cloudy"}, 400),
    ("unknown query operator", "POST", {"query": {"platform": {"like": "s"}}}, 400),
    ("query in without a list", "GET", {"query": '{"platform": {"in": "s"}}'}, 400),
    ("intersects not GeoJSON", "GET", {"intersects": "{"}, 400),
    ("bad paging token", "GET", {"token": "next:nonsense"}, 400),
]  # fmt: skip

# (method, path) of every write route
WRITES: list[tuple[str, str]] = [
    ("POST", f"/collections/{L1C}/items"),
    ("PUT", f"/collections/{L1C}/items/x"),
    ("PATCH", f"/collections/{L1C}/items/x"),
    ("DELETE", f"/collections/{L1C}/items/x"),
    ("POST", "/collections"),
    ("PUT", f"/collections/{L1C}"),
    ("DELETE", f"/collections/{L1C}"),
    ("POST", f"/collections/{L1C}/bulk_items"),
]

"""CQL2 filters parsed and validated with the cql2 library, remembered by their text.

``cql2.Expr.validate`` checks an expression against the CQL2 JSON schema and takes about
25 ms a call (the schema is prepared again each time): more than the database needs for a
whole search page. A filter's validity depends on its text only, and users and web maps send
the same few filters again and again, so valid ones are remembered (1024 of them); invalid
ones are checked every time and raise.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, cast

from cql2 import Expr

CQL2_JSON = "cql2-json"


@lru_cache(maxsize=1024)
def _validated(text: str, lang: str) -> str:
    expr = Expr(json.loads(text)) if lang == CQL2_JSON else Expr(text)
    expr.validate()
    return json.dumps(expr.to_json())


def cql2_json(filter_: str | dict[str, Any], lang: str = "cql2-text") -> dict[str, Any]:
    """The filter as CQL2 JSON, validated; the cql2 library's exception if it is not valid.

    ``filter_`` is CQL2 text, or CQL2 JSON as text (``lang="cql2-json"``) or as a dict.
    """
    if isinstance(filter_, dict):
        filter_, lang = json.dumps(filter_, sort_keys=True), CQL2_JSON
    return cast(dict[str, Any], json.loads(_validated(filter_, lang)))

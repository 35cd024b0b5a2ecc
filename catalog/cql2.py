"""CQL2 filters parsed and validated with the cql2 library, bounded first, remembered by their text.

The cql2 library must only ever see filters of bounded size and nesting:

- its parser recurses once per level of parentheses and per chained operator, and a few
  thousand levels (about 1 600 nested parentheses, a 3.2 KB GET) overflow the stack and kill
  the process with a segmentation fault;
- ``Expr.validate`` (a JSON-schema check) costs memory that grows with nesting, steeply for
  ``not``: 10 nested NOTs peak at 186 MB, 300 at 9.9 GB.

So :func:`cql2_json` checks a filter against :class:`FilterLimits` before the library sees it:
its length, then for CQL2 text a scan of the tokens (parentheses nest at most ``max_depth``
deep, one comparison chains at most ``max_depth`` operators, which bounds the parser's
recursion), and for CQL2 JSON, and for text once parsed, the exact nesting of its operators and
of its NOTs, before it is validated.

``Expr.validate`` takes about 25 ms a call (the schema is prepared again each time): more than
the database needs for a whole search page. A filter's validity depends on its text only, and
users and web maps send the same few filters again and again, so valid ones are remembered
(1024 of them); invalid ones are checked every time and raise.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from cql2 import Expr

CQL2_JSON = "cql2-json"

_TOKEN = re.compile(
    r"""\s+|'(?:[^']|'')*'|"[^"]*"|[A-Za-z_][\w:.]*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?"""
    r"""|<>|!=|<=|>=|\|\||.""",
    re.DOTALL,
)
_SEPARATORS = {",", "AND", "OR"}
"""Tokens that end one comparison: the parser does not nest what they join."""
_OPERATORS = {
    *("=", "<>", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "^", "||"),
    *("NOT", "LIKE", "IN", "IS", "BETWEEN", "DIV"),
}
"""Tokens the parser may nest one level deeper for (prefix, infix and postfix operators)."""


class FilterTooComplex(ValueError):
    """A filter over one of the :class:`FilterLimits`; the message names the limit."""


@dataclass(frozen=True)
class FilterLimits:
    """How large and how deeply nested a filter may be before the cql2 library sees it."""

    max_length: int = 20_000
    """Characters of CQL2 text, or of CQL2 JSON as compact JSON text."""
    max_depth: int = 20
    """Levels of nesting: parentheses and operators of one comparison in text, operators,
    objects and arrays in JSON."""
    max_not_depth: int = 4
    """NOTs (``NOT``, ``NOT LIKE``, ``IS NOT NULL``...) nested inside one another."""
    setting_prefix: str = ""
    """Prefix of the environment variables that set these limits, named in refusals."""

    def refuse(self, what: str, limit: str, value: int) -> FilterTooComplex:
        """The error for a filter that ``what`` (e.g. "has 30 000 characters"), over ``limit``."""
        name = f"{self.setting_prefix}MAX_FILTER_{limit}".upper()
        return FilterTooComplex(f"filter {what}; the limit is {value} ({name})")

    def check_text(self, text: str) -> None:
        """Refuse CQL2 text that is too long or nests too deep to hand to the parser."""
        if len(text) > self.max_length:
            raise self.refuse(f"has {len(text)} characters", "length", self.max_length)
        depth, chained, outer = 0, 0, []
        for match in _TOKEN.finditer(text):
            token = match.group()
            word = token.upper()
            if token == "(":
                depth += 1
                if depth > self.max_depth:
                    raise self.refuse(
                        f"nests parentheses more than {self.max_depth} deep",
                        "depth",
                        self.max_depth,
                    )
                outer.append(chained)
                chained = 0
            elif token == ")":
                depth = max(depth - 1, 0)
                chained = outer.pop() if outer else 0
            elif word in _SEPARATORS:
                chained = 0
            elif word in _OPERATORS:
                chained += 1
                if chained > self.max_depth:
                    raise self.refuse(
                        f"chains more than {self.max_depth} operators in one comparison",
                        "depth",
                        self.max_depth,
                    )

    def check_json(self, value: Any) -> None:
        """Refuse CQL2 JSON that nests too deep (operators, objects, arrays; and NOTs)."""
        stack: list[tuple[Any, int, int]] = [(value, 0, 0)]
        while stack:
            node, depth, nots = stack.pop()
            if isinstance(node, dict):
                children: Any = node.values()
                op = node.get("op")
                if isinstance(op, str):
                    args = node.get("args")
                    children = args if isinstance(args, list) else [args]
                    nots += op.lower() == "not"
            elif isinstance(node, list):
                children = node
            else:
                continue
            depth += 1
            if depth > self.max_depth:
                raise self.refuse(
                    f"nests more than {self.max_depth} levels deep", "depth", self.max_depth
                )
            if nots > self.max_not_depth:
                raise self.refuse(
                    f"nests more than {self.max_not_depth} NOTs", "not_depth", self.max_not_depth
                )
            stack.extend((child, depth, nots) for child in children)


DEFAULT_LIMITS = FilterLimits()


@lru_cache(maxsize=1024)
def _validated(text: str, lang: str, limits: FilterLimits) -> str:
    if lang == CQL2_JSON:
        try:
            value = json.loads(text)
        except RecursionError:
            raise limits.refuse(
                f"nests more than {limits.max_depth} levels deep", "depth", limits.max_depth
            ) from None
        limits.check_json(value)
        expr = Expr(value)
    else:
        limits.check_text(text)
        expr = Expr(text)
        limits.check_json(expr.to_json())  # e.g. ``a = 1 + 1 + ... + 1`` nests in JSON
    expr.validate()
    return json.dumps(expr.to_json())


def cql2_json(
    filter_: str | dict[str, Any], lang: str = "cql2-text", limits: FilterLimits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """The filter as CQL2 JSON, validated; the cql2 library's exception if it is not valid.

    ``filter_`` is CQL2 text, or CQL2 JSON as text (``lang="cql2-json"``) or as a dict.
    :class:`FilterTooComplex` if it is over one of the ``limits``.
    """
    if isinstance(filter_, dict):
        limits.check_json(filter_)
        filter_, lang = json.dumps(filter_, sort_keys=True, separators=(",", ":")), CQL2_JSON
    if len(filter_) > limits.max_length:
        raise limits.refuse(f"has {len(filter_)} characters", "length", limits.max_length)
    return cast(dict[str, Any], json.loads(_validated(filter_, lang, limits)))

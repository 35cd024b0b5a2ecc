"""CQL2 filters: parsed, validated, and remembered only when valid."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.cql2 import FilterLimits, FilterTooComplex, _validated, cql2_json

LESS: dict[str, Any] = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]}


def test_text_and_json_give_the_same_cql2_json():
    assert cql2_json("eo:cloud_cover < 30") == LESS
    assert (
        cql2_json('{"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]}', "cql2-json") == LESS
    )
    assert cql2_json(LESS) == LESS


def test_a_valid_filter_is_validated_once_and_handed_out_as_a_copy():
    _validated.cache_clear()
    first = cql2_json("eo:cloud_cover < 31")
    first["args"][1] = 99  # a caller changing its copy changes nothing for the next
    assert cql2_json("eo:cloud_cover < 31")["args"][1] == 31
    assert _validated.cache_info().hits == 1


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("eo:cloud_cover <", "expected GEOMETRY, Identifier"),  # the parser's own words
        ("(((", "expected Expr"),
        ('{"op": "<"}', "did not match any variant"),
    ],
)
def test_an_invalid_filter_raises_every_time(bad: str, problem: str):
    lang = "cql2-json" if bad.startswith("{") else "cql2-text"
    for _ in range(2):
        # cql2 raises bare Exceptions: the parser's message tells them from a bug of ours
        with pytest.raises(Exception, match=problem):
            cql2_json(bad, lang)


# Filters that crashed the process (stack overflow in the parser: segmentation fault) or cost
# it gigabytes (validation of nested NOTs) before the limits; each is refused at once.
HOSTILE = {
    "1600 nested parentheses": "(" * 1600 + "eo:cloud_cover < 30" + ")" * 1600,
    "4000 chained NOTs": "NOT " * 4000 + "eo:cloud_cover < 30",
    "150 nested NOT (...)": "NOT (" * 150 + "eo:cloud_cover < 30" + ")" * 150,
    "300 nested function calls": "eo:cloud_cover = " + "f(" * 300 + "1" + ")" * 300,
    "a 5000-term sum": "eo:cloud_cover = " + "1+" * 5000 + "1",
    "4000 unary minus": "eo:cloud_cover = " + "-" * 4000 + "1",
    "4000 chained comparisons": "a<" * 4000 + "1",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_text_is_refused_before_the_parser_sees_it(name: str):
    with pytest.raises(FilterTooComplex, match="MAX_FILTER_DEPTH"):
        cql2_json(HOSTILE[name], limits=FilterLimits(setting_prefix="KAPPACAT_API_"))


def nested(op: str, depth: int) -> dict[str, Any]:
    expr: dict[str, Any] = LESS
    for _ in range(depth):
        expr = {"op": op, "args": [expr]} if op == "not" else {"op": op, "args": [expr, LESS]}
    return expr


def test_json_nesting_and_nots_are_bounded():
    limits = FilterLimits(max_depth=10, max_not_depth=2)
    assert cql2_json(nested("and", 8), limits=limits)["op"] == "and"
    with pytest.raises(FilterTooComplex, match=r"more than 10 levels.*MAX_FILTER_DEPTH"):
        cql2_json(nested("and", 12), limits=limits)
    assert cql2_json(nested("not", 2), limits=limits)["op"] == "not"
    with pytest.raises(FilterTooComplex, match=r"more than 2 NOTs.*MAX_FILTER_NOT_DEPTH"):
        cql2_json(nested("not", 3), limits=limits)
    # NOT LIKE and IS NOT NULL are NOTs too, in text as in JSON
    text = "NOT (eo:cloud_cover < 30 AND id NOT LIKE 'S2A%' AND datetime IS NOT NULL)"
    assert cql2_json(text, limits=limits)["op"] == "not"
    with pytest.raises(FilterTooComplex, match="NOTs"):
        cql2_json("NOT (NOT (id NOT LIKE 'S2A%'))", limits=limits)
    # JSON text too deep for Python's own reader is refused as too deep, not a crash
    with pytest.raises(FilterTooComplex, match="levels deep"):
        cql2_json("[" * 5000 + "]" * 5000, "cql2-json")


def test_length_is_bounded_and_ordinary_filters_pass():
    limits = FilterLimits(max_length=100)
    long_in = "id IN (" + ",".join(f"'S2B_{i:04d}'" for i in range(20)) + ")"
    with pytest.raises(FilterTooComplex, match=r"has \d+ characters; the limit is 100"):
        cql2_json(long_in, limits=limits)
    with pytest.raises(FilterTooComplex, match="characters"):
        cql2_json({"op": "in", "args": [{"property": "id"}, ["x" * 100]]}, limits=limits)
    for text in (
        long_in,  # 20 items in a list do not nest
        "eo:cloud_cover < 30 AND \"grid:code\" = 'MGRS-32UPU' OR eo:cloud_cover = 0",
        "a NOT LIKE 'x(((' AND b = ')))'",  # parentheses inside strings do not count
        "S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))",
        "T_INTERSECTS(datetime, INTERVAL('2023-06-01', '2023-07-01'))",
        " AND ".join(f"eo:cloud_cover < {i}" for i in range(200)),  # flat: any length
    ):
        assert cql2_json(text)["op"]

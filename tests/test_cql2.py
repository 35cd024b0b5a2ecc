"""CQL2 filters: parsed, validated, and remembered only when valid."""

from __future__ import annotations

import pytest

from kappacat.cql2 import _validated, cql2_json

LESS = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]}


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


@pytest.mark.parametrize("bad", ["eo:cloud_cover <", "(((", '{"op": "<"}'])
def test_an_invalid_filter_raises_every_time(bad: str):
    lang = "cql2-json" if bad.startswith("{") else "cql2-text"
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 (cql2 raises bare Exceptions)
            cql2_json(bad, lang)

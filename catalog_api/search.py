"""Request models of item search, built on stac-fastapi's with the changes the API needs.

- ``limit`` is not silently cropped at 10 000: the client refuses a limit above
  ``ApiSettings.max_limit`` with a 400, and it can only do that if it sees the limit asked for.
- POST ``collections`` may be one id instead of a list of one (stac-api-validator and some
  clients send it so; the STAC API JSON schema says array, and accepting both costs nothing).
- ``query`` may be combined with ``filter``: both become one CQL2 filter (see ``query.py``).
- POST ``filter`` may be CQL2 text (a string, with ``"filter-lang": "cql2-text"``), as on GET:
  pystac-client sends it so when told ``filter_lang="cql2-text"``, and older versions always;
  the client converts it to CQL2 JSON (``client.parse_filter``).
- POST ``"fields": null`` is refused: ``fields`` is an object (empty for the default fields);
  so is a body that is not an object at all (``[]``, ``5``), which stac-pydantic's own
  validators do not expect.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the annotations of these
# request classes at runtime, through attrs-generated ``__init__``s that cannot resolve strings.

from typing import Annotated, Any, Literal

import attr
from fastapi import Query
from pydantic import Field, PositiveInt, ValidationInfo, field_validator, model_validator
from stac_fastapi.api.models import ItemCollectionUri
from stac_fastapi.extensions import SearchFilterExtension as BaseSearchFilterExtension
from stac_fastapi.extensions.filter.request import FilterExtensionPostRequest
from stac_fastapi.pgstac.types.search import PgstacSearch
from stac_fastapi.types.search import BaseSearchGetRequest

LIMIT_DESCRIPTION = (
    "The number of results per page (default 10). Above the maximum of this schema the "
    "request is refused with 400."
)


class SearchPostRequestBase(PgstacSearch):
    """Base of the POST /search body model."""

    limit: PositiveInt | None = Field(10, description=LIMIT_DESCRIPTION)

    @field_validator("collections", mode="before")
    @classmethod
    def _one_collection(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("filter_lang", check_fields=False)
    @classmethod
    def validate_query_uses_cql(cls, value: str, info: ValidationInfo) -> str:
        """Allow ``query`` with ``filter`` (replaces pgstac's refusal of the two together)."""
        return value

    @model_validator(mode="before")
    @classmethod
    def _fields_is_an_object(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("the search body must be a JSON object")
        if "fields" in data and data["fields"] is None:
            raise ValueError("fields must be an object ({} for the default fields), not null")
        return data


@attr.s
class SearchGetRequestBase(BaseSearchGetRequest):
    """Base of the GET /search parameters model."""

    limit: Annotated[PositiveInt | None, Query(description=LIMIT_DESCRIPTION)] = attr.ib(default=10)


@attr.s
class ItemsGetRequestBase(ItemCollectionUri):
    """Base of the GET /collections/{collection_id}/items parameters model."""

    limit: Annotated[PositiveInt | None, Query(description=LIMIT_DESCRIPTION)] = attr.ib(default=10)


class FilterPostRequest(FilterExtensionPostRequest):
    """The filter extension's part of the POST /search body, in CQL2 JSON or CQL2 text."""

    filter_expr: dict[str, Any] | str | None = Field(  # type: ignore[assignment]  # widened
        None,
        alias="filter",
        description=(
            "A CQL2 filter: an object (CQL2 JSON), or a string in the language of filter-lang."
        ),
    )
    filter_lang: Literal["cql2-json", "cql2-text"] | None = Field(  # type: ignore[assignment]
        None,
        alias="filter-lang",
        description=(
            "The language of filter: cql2-json (the default for an object), cql2-text (the "
            "default for a string)."
        ),
    )


@attr.s
class SearchFilterExtension(BaseSearchFilterExtension):
    """The filter extension of ``/search``, accepting CQL2 text on POST too.

    It keeps its base's name: stac-fastapi finds extensions by class name (the landing page's
    ``queryables`` link is there only when a ``SearchFilterExtension`` is).
    """

    POST = FilterPostRequest

"""The HTTP contract's requests: each path, query, form and JSON body declared once, as a pydantic model.

flask-openapi3 validates path, query and JSON-body parameters against these models before a
view runs, and builds `/openapi.json` (OpenAPI 3.1) from the same models. Multipart forms are
validated against their models by `backend.api.requests.form_model`, because the library
would JSON-decode each form value first: "123" would then be a number, and a deeply nested
value would raise RecursionError.

Three kinds of field keep their rules where the rest of the code needs them, and only their
JSON Schema is written here. Product fields are checked by `catalog.validation`, which also
serves import files and bulk lines. Filter fields come from their declarations in
`filters/search_filter.py`. Search bounds are in `search/service.py`.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    model_validator,
)

from backend.catalog.schema import ID_MAX
from backend.catalog.validation import PRODUCT_FIELD_SCHEMAS, PRODUCT_PARSERS, REQUIRED_FIELDS
from backend.filters.search_filter import FACET_FIELDS, FILTER_FIELD_SCHEMAS
from backend.search.service import MAX_WINDOW

# Product ids one list of a recommendation request may name (positive, negative or viewed).
MAX_IDS = 1000
# Products one page of GET /products may hold.
MAX_PAGE = 200
ATTRIBUTE_KEY = r"^attr\.[A-Za-z0-9_-]{1,100}$"
BINARY = {"type": "string", "format": "binary"}

Id = Annotated[int, Field(strict=True, ge=1, le=ID_MAX)]
IdList = Annotated[list[Id], Field(max_length=MAX_IDS)]
# JSON numbers: strict, so 5.9, true and "5" are refused; query strings are parsed from text.
JsonOffset = Annotated[int, Field(strict=True, ge=0, le=MAX_WINDOW)]
JsonLimit = Annotated[int, Field(strict=True, ge=1, le=MAX_WINDOW)]
QueryOffset = Annotated[int, Field(ge=0, le=MAX_WINDOW)]
QueryLimit = Annotated[int, Field(ge=1, le=MAX_WINDOW)]
Score = Annotated[float, Field(strict=True, allow_inf_nan=False)]
QueryScore = Annotated[float, Field(allow_inf_nan=False)]
FacetNames = Annotated[
    Any,
    WithJsonSchema(
        {
            "description": f"fields to count in the results, comma-separated: {', '.join(FACET_FIELDS)}",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string", "enum": list(FACET_FIELDS)}},
            ],
        }
    ),
]


class Strict(BaseModel):
    """A request part that names only the fields it declares."""

    model_config = ConfigDict(extra="forbid")


class Query(Strict):
    """Query-string or form fields: text parsed by type; an empty value is as good as none."""

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data

    # Generated schemas by (model, arguments); see model_json_schema.
    _json_schemas: ClassVar[dict[Hashable, dict[str, Any]]] = {}

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The model's JSON Schema, generated once per model and arguments; a copy each call.

        flask-openapi3 asks for it on every request it validates (to tell list fields from
        single ones), and generating it was 0.6 ms of each GET /products/<id>/similar.
        """
        key = (cls, args, tuple(sorted(kwargs.items())))
        schema = cls._json_schemas.get(key)
        if schema is None:
            schema = cls._json_schemas[key] = super().model_json_schema(*args, **kwargs)
        return copy.deepcopy(schema)  # callers may change what they get (the document builder does)


class ProductPath(BaseModel):
    product_id: Annotated[int, Field(ge=1, le=ID_MAX)]


class ImagePath(ProductPath):
    image_id: Annotated[int, Field(ge=1, le=ID_MAX)]


class ProductPageQuery(Query):
    offset: Annotated[int, Field(ge=0, le=ID_MAX)] = 0
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 50


def _with_schema(schema: dict[str, Any]) -> Any:
    return Annotated[Any, WithJsonSchema(schema)]


class FilterBase(Query):
    """Filter fields are declared; `attr.<name>` keys are extra fields, checked by parse_filters."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"patternProperties": {ATTRIBUTE_KEY: {}}})


# Filter fields as a query string or form carries them (text); `attr.<name>` keys are extra fields.
_FilterQuery: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "FilterQuery",
    __base__=FilterBase,
    **{name: (_with_schema(schema) | None, None) for name, schema in FILTER_FIELD_SCHEMAS.items()},
)


class SearchQuery(_FilterQuery):  # type: ignore[misc, valid-type]
    """Filters, paging and facets of a query string or form (filters are checked by parse_filters)."""

    offset: QueryOffset = 0
    limit: QueryLimit = 10
    min_score: QueryScore | None = None
    facets: FacetNames = None


def _region(value: Any) -> tuple[float, float, float, float] | None:
    """`left,top,right,bottom` as fractions of the photo's width and height (0 to 1)."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, list | tuple) or len(parts) != 4:
        raise ValueError("must be four numbers: left,top,right,bottom as fractions of the photo (0-1)")
    try:
        left, top, right, bottom = (float(part) for part in parts)
    except (TypeError, ValueError):
        raise ValueError(
            "must be four numbers: left,top,right,bottom as fractions of the photo (0-1)"
        ) from None
    if not all(0.0 <= edge <= 1.0 for edge in (left, top, right, bottom)):
        raise ValueError("each edge must be between 0 and 1 (fractions of the photo's width and height)")
    if right - left < MIN_REGION or bottom - top < MIN_REGION:
        raise ValueError(f"right - left and bottom - top must each be at least {MIN_REGION}")
    return left, top, right, bottom


REGION_FORMAT = "must be four numbers: left,top,right,bottom as fractions of the photo (0-1)"
# The smallest region side, as a fraction of the photo: a box this thin holds no product.
MIN_REGION = 0.02
Region = Annotated[
    Any,
    BeforeValidator(_region),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*[0-9.]+\s*(,\s*[0-9.]+\s*){3}$",
            "description": "search only this box of the photo: left,top,right,bottom as fractions of its "
            "width and height (0-1), e.g. 0.1,0.2,0.6,0.9",
        }
    ),
]


class SearchForm(SearchQuery):
    """POST /search: the query photo, an optional region of it, and the same fields as a query string."""

    image: Annotated[Any, WithJsonSchema({"type": "string", "format": "binary"})]
    region: Region = None


Filters: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Filters",
    __config__=ConfigDict(extra="allow", json_schema_extra={"patternProperties": {ATTRIBUTE_KEY: {}}}),
    **{
        name: (_with_schema({"anyOf": [schema, {"type": "array", "items": schema}]}) | None, None)
        for name, schema in FILTER_FIELD_SCHEMAS.items()
    },
)


class PagedJson(Strict):
    filters: Filters | None = None  # type: ignore[valid-type]
    limit: JsonLimit = 10
    offset: JsonOffset = 0
    min_score: Score | None = None
    facets: FacetNames = None


class RecommendationRequest(PagedJson):
    positive: IdList = []
    negative: IdList = []
    strategy: Literal["average_vector", "best_score"] = "average_vector"


class RecommendationForm(BaseModel):
    """Multipart POST /recommendations: the JSON request in a field, and photos as positives."""

    request: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": "string",
                "contentMediaType": "application/json",
                "description": "a RecommendationRequest as JSON",
            }
        ),
    ] = None
    positive_image: Annotated[
        Any, WithJsonSchema({"type": "array", "items": {"type": "string", "format": "binary"}})
    ] = None


class SessionRequest(PagedJson):
    viewed: Annotated[IdList, Field(min_length=1)]


class SyncRequest(Strict):
    model: str | None = Field(None, max_length=1000)
    activate: Annotated[bool, Field(strict=True)] = True


class ImageForm(BaseModel):
    image: Annotated[Any, WithJsonSchema({"type": "string", "format": "binary"})]


def _product_model(name: str, *, partial: bool) -> type[BaseModel]:
    """A product's JSON fields, each checked by its parser in catalog.validation."""
    fields: dict[str, Any] = {
        field: (
            Annotated[Any, BeforeValidator(PRODUCT_PARSERS[field]), WithJsonSchema(schema)],
            ... if field in REQUIRED_FIELDS and not partial else None,
        )
        for field, schema in PRODUCT_FIELD_SCHEMAS.items()
    }
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


ProductCreate = _product_model("ProductCreate", partial=False)
ProductUpdate = _product_model("ProductUpdate", partial=True)

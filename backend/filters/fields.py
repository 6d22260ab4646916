"""Every payload field and every filterable field, declared once.

The vector payload the sync writes, the payload indexes each engine creates, the engines'
filter translators, the database re-check of search results and the facet query are all
derived from these declarations. Adding a filterable field is one `declared(...)` field on
`SearchFilter` (backend/filters/search_filter.py), naming a payload field from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol

from sqlalchemy import ColumnElement, func

from backend.catalog.schema import Product
from backend.json_values import as_indexed


class IndexType(Enum):
    """Payload index kinds; each engine maps them to its own schema types."""

    INTEGER = "integer"
    KEYWORD = "keyword"
    FLOAT = "float"
    BOOL = "bool"


class FilterableProduct(Protocol):
    """What the re-check reads of a product (an ORM row or a selected row)."""

    @property
    def name(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def brand(self) -> str: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def in_stock(self) -> bool: ...
    @property
    def attributes(self) -> dict[str, Any]: ...


class CatalogImage(FilterableProduct, Protocol):
    """An image row with its product's fields (backend.catalog.queries.IndexedImage)."""

    @property
    def image_id(self) -> int: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def product_id(self) -> int: ...
    @property
    def sku(self) -> str: ...
    @property
    def currency(self) -> str: ...


@dataclass(frozen=True)
class PayloadField:
    """One key of a point's payload: its index, and how the sync computes it from a catalog image."""

    key: str
    index: IndexType | None
    value: Callable[[CatalogImage], Any] | None  # None: the sync sets it (the model's key)


PRODUCT_ID = PayloadField("product_id", IndexType.INTEGER, lambda row: row.product_id)
IMAGE_ID = PayloadField("image_id", IndexType.INTEGER, lambda row: row.image_id)
SKU = PayloadField("sku", IndexType.KEYWORD, lambda row: row.sku)
# No text index on purpose: both engines then match a plain substring.
NAME_LOWER = PayloadField("name_lower", None, lambda row: row.name.lower())
CATEGORY = PayloadField("category", IndexType.KEYWORD, lambda row: row.category)
BRAND = PayloadField("brand", IndexType.KEYWORD, lambda row: row.brand)
PRICE = PayloadField("price", IndexType.FLOAT, lambda row: float(row.price))
CURRENCY = PayloadField("currency", IndexType.KEYWORD, lambda row: row.currency)
IN_STOCK = PayloadField("in_stock", IndexType.BOOL, lambda row: row.in_stock)
# Integers beyond 64 bits become floats, as Qdrant keeps them (backend/json_values.py).
ATTRIBUTES = PayloadField(
    "attributes", None, lambda row: as_indexed(row.attributes) if row.attributes else row.attributes
)
CONTENT_HASH = PayloadField("content_hash", IndexType.KEYWORD, lambda row: row.content_hash)
MODEL = PayloadField("model", IndexType.KEYWORD, None)

PAYLOAD_FIELDS = (
    PRODUCT_ID,
    IMAGE_ID,
    SKU,
    NAME_LOWER,
    CATEGORY,
    BRAND,
    PRICE,
    CURRENCY,
    IN_STOCK,
    ATTRIBUTES,
    CONTENT_HASH,
    MODEL,
)


def point_payload(row: CatalogImage, model_key: str) -> dict[str, Any]:
    """The payload stored with an image's vector: product fields, image content hash, model."""
    payload = {field.key: field.value(row) for field in PAYLOAD_FIELDS if field.value is not None}
    payload[MODEL.key] = model_key
    return payload


def payload_indexes() -> dict[str, IndexType]:
    """The payload keys each engine indexes, and how."""
    return {field.key: field.index for field in PAYLOAD_FIELDS if field.index is not None}


class Kind(Enum):
    """How a filter field's constraint matches a value; engines translate these, not fields."""

    ANY_OF = "any_of"  # constraint: tuple of keywords; the value is one of them
    NONE_OF = "none_of"  # constraint: tuple of integers; the value is none of them
    AT_LEAST = "at_least"  # constraint: a number; value >= it
    AT_MOST = "at_most"  # constraint: a number; value <= it
    EQUALS = "equals"  # constraint: a boolean
    CONTAINS = "contains"  # constraint: lower-case text; the (lower-case) value contains it
    ATTRIBUTES = "attributes"  # constraint: ((name, accepted values), ...); each attribute is one of them


@dataclass(frozen=True)
class FilterField:
    """One filterable field: its request name, payload field, match kind, catalog value and SQL column."""

    query: str | None  # the request field; None: set by the service, not by requests
    kind: Kind
    payload: PayloadField
    row_value: Callable[[FilterableProduct, int], Any]  # (product, its id) -> the value to match
    # The catalog column for the facet query; None: checked in Python (JSON operators differ per database).
    column: Callable[[], ColumnElement[Any]] | None
    facet: bool = False  # whether `facets=` may count products per value of this field


def holds(kind: Kind, value: Any, constraint: Any) -> bool:
    """Whether a catalog value satisfies a constraint, with the engines' meaning."""
    if kind is Kind.ANY_OF:
        return bool(value in constraint)
    if kind is Kind.NONE_OF:
        return value not in constraint
    if kind is Kind.AT_LEAST:
        return bool(value >= constraint)
    if kind is Kind.AT_MOST:
        return bool(value <= constraint)
    if kind is Kind.EQUALS:
        return bool(value == constraint)
    if kind is Kind.CONTAINS:
        return constraint in value.lower()
    return attributes_match(value, constraint)


def attributes_match(attributes: Mapping[str, Any], constraint: Any) -> bool:
    """Whether catalog attributes satisfy every (name, accepted values) condition."""
    for attribute, accepted in constraint:
        value = attributes.get(attribute)
        # Type-strict: True must not match 1, nor "1" match 1, unless both were accepted.
        if not any(type(value) is type(option) and value == option for option in accepted):
            return False
    return True


def sql_condition(kind: Kind, column: ColumnElement[Any], constraint: Any) -> ColumnElement[bool]:
    """The same constraint as a SQL condition on the field's column."""
    if kind is Kind.ANY_OF:
        return column.in_(constraint)
    if kind is Kind.NONE_OF:
        return column.not_in(constraint)
    if kind is Kind.AT_LEAST:
        return column.__ge__(constraint)
    if kind is Kind.AT_MOST:
        return column.__le__(constraint)
    if kind is Kind.EQUALS:
        return column.__eq__(constraint)
    if kind is Kind.CONTAINS:
        return func.lower(column).contains(constraint, autoescape=True)
    raise ValueError(f"{kind} has no SQL form here; declare the field without a column")


def product_column(name: str) -> Callable[[], ColumnElement[Any]]:
    """A column of the products table, looked up when a query is built."""
    return lambda: getattr(Product, name)


# The JSON Schema of one value of each kind of filter field, for the API's contract; the parsers
# in search_filter.py are what decides (text from a query string or form is parsed the same way).
KIND_SCHEMAS: dict[Kind, dict[str, Any]] = {
    Kind.ANY_OF: {"type": "string", "description": "one value, or several separated by commas"},
    Kind.AT_LEAST: {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]},
    Kind.AT_MOST: {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]},
    Kind.EQUALS: {
        "anyOf": [{"type": "boolean"}, {"type": "string", "description": "true/false, yes/no, 1/0"}]
    },
    Kind.CONTAINS: {"type": "string", "minLength": 1, "description": "text the name contains"},
}

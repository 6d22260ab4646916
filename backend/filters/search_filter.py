"""Search filters: parsed from requests, checked against products, translated by the store."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from backend.catalog.validation import parse_bool
from backend.errors import InvalidRequest
from backend.filters.fields import (
    ATTRIBUTES,
    BRAND,
    CATEGORY,
    IN_STOCK,
    KIND_SCHEMAS,
    NAME_LOWER,
    PRICE,
    PRODUCT_ID,
    FilterableProduct,
    FilterField,
    Kind,
    PayloadField,
    holds,
    product_column,
)
from backend.json_values import INT64_MAX, INT64_MIN, is_unicode_text

ATTRIBUTE_PREFIX = "attr."
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
AttributeValue = str | int | bool


def declared(
    kind: Kind,
    payload: PayloadField,
    row_value: Callable[[FilterableProduct, int], Any],
    *,
    query: str | None,
    column: Callable[[], Any] | None,
    facet: bool = False,
) -> Any:
    """A SearchFilter field together with its declaration (no constraint by default)."""
    declaration = FilterField(query, kind, payload, row_value, column, facet)
    empty: Any = () if kind in (Kind.ANY_OF, Kind.NONE_OF, Kind.ATTRIBUTES) else None
    return field(default=empty, metadata={"filter": declaration})


@dataclass(frozen=True)
class SearchFilter:
    """Constraints combined with AND; an empty tuple or None means no constraint.

    Each field declares what it filters (see backend/filters/fields.py); the engines'
    translators, the database re-check and the facet query are derived from the declarations.
    """

    categories: tuple[str, ...] = declared(
        Kind.ANY_OF,
        CATEGORY,
        lambda product, _id: product.category,
        query="category",
        column=product_column("category"),
        facet=True,
    )
    brands: tuple[str, ...] = declared(
        Kind.ANY_OF,
        BRAND,
        lambda product, _id: product.brand,
        query="brand",
        column=product_column("brand"),
        facet=True,
    )
    price_min: Decimal | None = declared(
        Kind.AT_LEAST,
        PRICE,
        lambda product, _id: product.price,
        query="price_min",
        column=product_column("price"),
    )
    price_max: Decimal | None = declared(
        Kind.AT_MOST,
        PRICE,
        lambda product, _id: product.price,
        query="price_max",
        column=product_column("price"),
    )
    in_stock: bool | None = declared(
        Kind.EQUALS,
        IN_STOCK,
        lambda product, _id: product.in_stock,
        query="in_stock",
        column=product_column("in_stock"),
    )
    exclude_product_ids: tuple[int, ...] = declared(
        Kind.NONE_OF,
        PRODUCT_ID,
        lambda _product, product_id: product_id,
        query=None,
        column=product_column("id"),
    )
    # (attribute name, accepted values): the attribute must equal one of the values.
    attributes: tuple[tuple[str, tuple[AttributeValue, ...]], ...] = declared(
        Kind.ATTRIBUTES, ATTRIBUTES, lambda product, _id: product.attributes, query=None, column=None
    )
    name_contains: str | None = declared(
        Kind.CONTAINS,
        NAME_LOWER,
        lambda product, _id: product.name,
        query="name",
        column=product_column("name"),
    )

    def conditions(self) -> list[tuple[FilterField, Any]]:
        """The declared fields that constrain something, each with its constraint."""
        return [
            (declaration, value)
            for declaration, value in (
                (declaration_of(item), getattr(self, item.name)) for item in fields(self)
            )
            if value is not None and value != ()
        ]

    def matches(self, product: FilterableProduct, product_id: int) -> bool:
        """Whether a product (as the database has it now) passes every constraint."""
        return all(
            holds(declaration.kind, declaration.row_value(product, product_id), constraint)
            for declaration, constraint in self.conditions()
        )

    def excluding(self, product_ids: Iterable[int]) -> SearchFilter:
        """The same filter that also leaves out the given products."""
        merged = tuple(dict.fromkeys((*self.exclude_product_ids, *product_ids)))
        return replace(self, exclude_product_ids=merged)


def declaration_of(item: Field[Any]) -> FilterField:
    """The declaration of one SearchFilter field."""
    return item.metadata["filter"]  # type: ignore[no-any-return]


DECLARATIONS = {item.name: declaration_of(item) for item in fields(SearchFilter)}
FILTER_FIELDS = tuple(
    declaration.query for declaration in DECLARATIONS.values() if declaration.query is not None
)
FACETS = {
    declaration.query: declaration
    for declaration in DECLARATIONS.values()
    if declaration.facet and declaration.query is not None
}
FACET_FIELDS = tuple(FACETS)
FILTER_FIELD_SCHEMAS = {
    declaration.query: KIND_SCHEMAS[declaration.kind]
    for declaration in DECLARATIONS.values()
    if declaration.query is not None
}


def parse_filters(values: Mapping[str, list[Any]]) -> SearchFilter:
    """Build a filter from field -> list of raw values; unknown fields are rejected.

    Text values may also be comma-separated ("category=Apple,Pear"). `attr.<name>` fields
    match a catalog attribute exactly; `name` matches products whose name contains the text.
    """
    unknown = sorted(key for key in values if key not in FILTER_FIELDS and not _is_attribute_field(key))
    if unknown:
        allowed = [*FILTER_FIELDS, f"{ATTRIBUTE_PREFIX}<name>"]
        raise InvalidRequest(
            f"unknown filter field {unknown[0]!r}; allowed: {', '.join(allowed)}",
            details={"field": unknown[0], "allowed": allowed},
        )
    price_min = _single_price(values, "price_min")
    price_max = _single_price(values, "price_max")
    if price_min is not None and price_max is not None and price_min > price_max:
        raise InvalidRequest(
            f"price_min ({price_min}) is greater than price_max ({price_max})",
            details={"field": "price_min"},
        )
    parsers: dict[Kind, Callable[[Mapping[str, list[Any]], str], Any]] = {
        Kind.ANY_OF: _text_values,
        Kind.AT_LEAST: _single_price,
        Kind.AT_MOST: _single_price,
        Kind.EQUALS: _single_bool,
        Kind.CONTAINS: _contained_text,
    }
    constraints: dict[str, Any] = {
        attribute: parsers[declaration.kind](values, declaration.query)
        for attribute, declaration in DECLARATIONS.items()
        if declaration.query is not None
    }
    constraints["attributes"] = tuple(
        (key.removeprefix(ATTRIBUTE_PREFIX), _attribute_values(key, values[key]))
        for key in sorted(values)
        if _is_attribute_field(key)
    )
    return SearchFilter(**constraints)


def _is_attribute_field(key: str) -> bool:
    return key.startswith(ATTRIBUTE_PREFIX)


def _attribute_values(key: str, raw_values: list[Any]) -> tuple[AttributeValue, ...]:
    """Accepted values of one attribute; text from a query string also matches as int or bool."""
    name = key.removeprefix(ATTRIBUTE_PREFIX)
    if not ATTRIBUTE_NAME.match(name):
        raise InvalidRequest(
            f"{key}: filterable attribute names are letters, digits, '_' and '-'", details={"field": key}
        )
    accepted: list[AttributeValue] = []
    for raw in raw_values:
        if not isinstance(raw, bool | int | str) or raw == "":
            raise InvalidRequest(f"{key} must be a string, integer or boolean", details={"field": key})
        if isinstance(raw, str) and not is_unicode_text(raw):
            raise InvalidRequest(f"{key} is not valid Unicode text", details={"field": key})
        if type(raw) is int and not INT64_MIN <= raw <= INT64_MAX:
            raise InvalidRequest(
                f"{key} must be an integer between {INT64_MIN} and {INT64_MAX}", details={"field": key}
            )
        accepted.append(raw)
        if isinstance(raw, str):
            text = raw.strip()
            if text.lower() in {"true", "false"}:
                accepted.append(text.lower() == "true")
            elif text.lstrip("-").isdigit() and INT64_MIN <= int(text) <= INT64_MAX:
                accepted.append(int(text))
    # Deduplicate by (type, value) so True and 1 stay distinct.
    unique = dict.fromkeys((type(value), value) for value in accepted)
    return tuple(value for _, value in unique)


def filter_values_from_json(data: Any) -> dict[str, list[Any]]:
    """Turn a JSON "filters" object into field -> list of raw values."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidRequest("filters must be a JSON object", details={"field": "filters"})
    return {key: list(value) if isinstance(value, list | tuple) else [value] for key, value in data.items()}


def _text_values(values: Mapping[str, list[Any]], name: str) -> tuple[str, ...]:
    result: list[str] = []
    for raw in values.get(name, []):
        if not isinstance(raw, str):
            raise InvalidRequest(f"{name} must be a string or a list of strings", details={"field": name})
        if not is_unicode_text(raw):
            raise InvalidRequest(f"{name} is not valid Unicode text", details={"field": name})
        result.extend(part.strip() for part in raw.split(",") if part.strip())
    return tuple(dict.fromkeys(result))


def _single(values: Mapping[str, list[Any]], name: str) -> Any:
    raw = values.get(name, [])
    if len(raw) > 1:
        raise InvalidRequest(f"{name} may be given once", details={"field": name})
    if not raw or raw[0] in (None, ""):
        return None
    return raw[0]


def _single_price(values: Mapping[str, list[Any]], name: str) -> Decimal | None:
    raw = _single(values, name)
    if raw is None:
        return None
    try:
        if isinstance(raw, bool):
            raise InvalidOperation
        price = Decimal(str(raw))
    except InvalidOperation:
        raise InvalidRequest(f"{name} must be a number, got {raw!r}", details={"field": name}) from None
    if not price.is_finite() or price < 0:
        raise InvalidRequest(f"{name} must be a finite number >= 0", details={"field": name})
    return price


def _contained_text(values: Mapping[str, list[Any]], name: str) -> str | None:
    text = _single(values, name)
    if text is None:
        return None
    if not isinstance(text, str) or not text.strip() or not is_unicode_text(text):
        raise InvalidRequest(f"{name} must be non-empty text", details={"field": name})
    return text.strip().lower()


def _single_bool(values: Mapping[str, list[Any]], name: str) -> bool | None:
    raw = _single(values, name)
    if raw is None:
        return None
    try:
        return parse_bool(raw)
    except ValueError as error:
        raise InvalidRequest(f"{name} {error}", details={"field": name}) from None

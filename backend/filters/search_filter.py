"""Search filters: parsed from requests, checked against products, translated by the store."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from backend.catalog.validation import parse_bool
from backend.errors import InvalidRequest
from backend.json_values import INT64_MAX, INT64_MIN, is_unicode_text

FILTER_FIELDS = ("category", "brand", "price_min", "price_max", "in_stock", "name")
ATTRIBUTE_PREFIX = "attr."
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
AttributeValue = str | int | bool


class FilterableProduct(Protocol):
    name: str
    category: str
    brand: str
    price: Decimal
    in_stock: bool
    attributes: dict[str, Any]


@dataclass(frozen=True)
class SearchFilter:
    """Attribute constraints combined with AND; an empty tuple means no constraint."""

    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: bool | None = None
    exclude_product_ids: tuple[int, ...] = ()
    # (attribute name, accepted values): the attribute must equal one of the values.
    attributes: tuple[tuple[str, tuple[AttributeValue, ...]], ...] = ()
    name_contains: str | None = None

    def matches(self, product: FilterableProduct, product_id: int) -> bool:
        """Whether a product (as the database has it now) passes every constraint."""
        if self.categories and product.category not in self.categories:
            return False
        if self.brands and product.brand not in self.brands:
            return False
        if self.price_min is not None and product.price < self.price_min:
            return False
        if self.price_max is not None and product.price > self.price_max:
            return False
        if self.in_stock is not None and product.in_stock != self.in_stock:
            return False
        if self.name_contains is not None and self.name_contains not in product.name.lower():
            return False
        return self.attributes_match(product.attributes) and product_id not in self.exclude_product_ids

    def attributes_match(self, attributes: Mapping[str, Any]) -> bool:
        """Whether catalog attributes satisfy every attribute condition."""
        for attribute, accepted in self.attributes:
            value = attributes.get(attribute)
            # Type-strict: True must not match 1, nor "1" match 1, unless both were accepted.
            if not any(type(value) is type(option) and value == option for option in accepted):
                return False
        return True

    def excluding(self, product_ids: Iterable[int]) -> SearchFilter:
        """The same filter that also leaves out the given products."""
        merged = tuple(dict.fromkeys((*self.exclude_product_ids, *product_ids)))
        return replace(self, exclude_product_ids=merged)


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
    name = _single(values, "name")
    if name is not None and (not isinstance(name, str) or not name.strip() or not is_unicode_text(name)):
        raise InvalidRequest("name must be non-empty text", details={"field": "name"})
    return SearchFilter(
        categories=_text_values(values, "category"),
        brands=_text_values(values, "brand"),
        price_min=price_min,
        price_max=price_max,
        in_stock=_single_bool(values, "in_stock"),
        attributes=tuple(
            (key.removeprefix(ATTRIBUTE_PREFIX), _attribute_values(key, values[key]))
            for key in sorted(values)
            if _is_attribute_field(key)
        ),
        name_contains=name.strip().lower() if isinstance(name, str) else None,
    )


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


def _single_bool(values: Mapping[str, list[Any]], name: str) -> bool | None:
    raw = _single(values, name)
    if raw is None:
        return None
    try:
        return parse_bool(raw)
    except ValueError as error:
        raise InvalidRequest(f"{name} {error}", details={"field": name}) from None

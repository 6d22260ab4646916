"""Validation of product fields that arrive from outside (import files, the admin API)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from backend.errors import InvalidRequest
from backend.json_values import KEPT_INT_MAX, KEPT_INT_MIN, is_unicode_text

SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
MAX_PRICE = Decimal("9999999999.99")
AttributeValue = str | int | float | bool

PRODUCT_FIELDS = (
    "sku",
    "name",
    "description",
    "category",
    "brand",
    "price",
    "currency",
    "in_stock",
    "attributes",
)
REQUIRED_FIELDS = ("sku", "name", "category", "price", "currency")


@dataclass(frozen=True)
class ProductFields:
    """Validated values for some or all of a product's fields."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


class FieldErrors(InvalidRequest):
    """One or more fields are invalid; details maps each field to its reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        summary = "; ".join(f"{name}: {reason}" for name, reason in errors.items())
        super().__init__(f"invalid product: {summary}", details={"fields": errors})
        self.errors = errors


def parse_product(
    data: Mapping[str, Any], *, partial: bool = False, extra_fields: tuple[str, ...] = ()
) -> ProductFields:
    """Validate a product mapping; with partial=True only the given fields are checked."""
    if not isinstance(data, Mapping):
        raise InvalidRequest("a product must be a JSON object")
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in data:
        if name not in PRODUCT_FIELDS and name not in extra_fields:
            errors[name] = f"unknown field; allowed: {', '.join(PRODUCT_FIELDS)}"
    if not partial:
        for name in REQUIRED_FIELDS:
            if data.get(name) in (None, ""):
                errors[name] = "is required"
    for name in PRODUCT_FIELDS:
        if name not in data or name in errors:
            continue
        try:
            values[name] = PRODUCT_PARSERS[name](data[name])
        except ValueError as error:
            errors[name] = str(error)
    if errors:
        raise FieldErrors(errors)
    if not partial:
        values.setdefault("description", "")
        values.setdefault("brand", "")
        values.setdefault("in_stock", True)
        values.setdefault("attributes", {})
    return ProductFields(values)


def _text(max_length: int, *, required: bool) -> Any:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if not is_unicode_text(value):
            raise ValueError("is not valid Unicode text (a lone surrogate)")
        text = value.strip()
        if required and not text:
            raise ValueError("must not be empty")
        if len(text) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return text

    return parse


def _sku(value: Any) -> str:
    if not isinstance(value, str) or not SKU_PATTERN.match(value.strip()):
        raise ValueError("must be 1-64 letters, digits, '.', '_' or '-', starting with a letter/digit")
    return value.strip()


def _price(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number")
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be a number, got {value!r}") from None
    if not price.is_finite() or price < 0:
        raise ValueError("must be a finite number >= 0")
    if price > MAX_PRICE:
        raise ValueError(f"must be at most {MAX_PRICE}")
    return price.quantize(Decimal("0.01"))


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not CURRENCY_PATTERN.match(value.strip().upper()):
        raise ValueError("must be a 3-letter ISO 4217 code such as EUR")
    return value.strip().upper()


def parse_bool(value: Any) -> bool:
    """Accept JSON booleans and the usual spellings in text (true/false, yes/no, 1/0)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "1", "yes", "y"}:
            return True
        if lowered in {"false", "0", "no", "n"}:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"must be true or false, got {value!r}")


def _attributes(value: Any) -> dict[str, AttributeValue]:
    if not isinstance(value, Mapping):
        raise ValueError("must be an object of name -> string/number/boolean")
    attributes: dict[str, AttributeValue] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 100 or not is_unicode_text(key):
            raise ValueError("attribute names must be non-empty text of at most 100 characters")
        if not isinstance(item, str | int | float | bool):
            raise ValueError(f"attribute {key!r} must be a string, number or boolean")
        if isinstance(item, float) and not math.isfinite(item):  # JSON has no NaN; Qdrant refuses it
            raise ValueError(f"attribute {key!r} must be a finite number")
        if isinstance(item, int) and not isinstance(item, bool) and not KEPT_INT_MIN <= item <= KEPT_INT_MAX:
            # the index keeps 64-bit integers only; a larger one would come back a float
            raise ValueError(f"attribute {key!r} must be an integer from {KEPT_INT_MIN} to {KEPT_INT_MAX}")
        if isinstance(item, str) and not is_unicode_text(item):
            raise ValueError(f"attribute {key!r} is not valid Unicode text (a lone surrogate)")
        attributes[key] = item
    return attributes


PRODUCT_PARSERS: dict[str, Any] = {
    "sku": _sku,
    "name": _text(300, required=True),
    "description": _text(20_000, required=False),
    "category": _text(100, required=True),
    "brand": _text(100, required=False),
    "price": _price,
    "currency": _currency,
    "in_stock": parse_bool,
    "attributes": _attributes,
}

# The JSON Schema of each field, for the API's contract (backend/api/schemas.py); the parsers
# above are what decides.
PRODUCT_FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "sku": {"type": "string", "pattern": SKU_PATTERN.pattern, "description": "the product's key"},
    "name": {"type": "string", "minLength": 1, "maxLength": 300},
    "description": {"type": "string", "maxLength": 20_000},
    "category": {"type": "string", "minLength": 1, "maxLength": 100},
    "brand": {"type": "string", "maxLength": 100},
    "price": {
        "anyOf": [
            {"type": "number", "minimum": 0, "maximum": float(MAX_PRICE)},
            {"type": "string", "description": "a decimal number"},
        ]
    },
    "currency": {"type": "string", "description": "ISO 4217, e.g. EUR (case-insensitive)"},
    "in_stock": {
        "anyOf": [
            {"type": "boolean"},
            {"type": "string", "description": "true/false, yes/no, 1/0"},
            {"type": "integer", "enum": [0, 1]},
        ]
    },
    "attributes": {
        "type": "object",
        "propertyNames": {"minLength": 1, "maxLength": 100},
        "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
    },
}
assert set(PRODUCT_FIELD_SCHEMAS) == set(PRODUCT_PARSERS)

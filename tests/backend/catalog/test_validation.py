from decimal import Decimal

import pytest

from backend.catalog.validation import FieldErrors, parse_product

VALID = {
    "sku": "MILK-1",
    "name": "Oat milk",
    "category": "Milk",
    "price": "1.5",
    "currency": "eur",
}


def test_valid_product_gets_defaults_and_normalised_values() -> None:
    fields = parse_product(VALID)
    assert fields["price"] == Decimal("1.50")
    assert fields["currency"] == "EUR"
    assert fields["in_stock"] is True
    assert fields["brand"] == ""
    assert fields["attributes"] == {}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"price": -1}, "price", ">= 0"),
        ({"price": "abc"}, "price", "number"),
        ({"price": True}, "price", "number"),
        ({"currency": "euro"}, "currency", "3-letter"),
        ({"sku": "bad sku!"}, "sku", "letters"),
        ({"name": ""}, "name", "required"),
        ({"in_stock": "perhaps"}, "in_stock", "true or false"),
        ({"attributes": {"size": [1, 2]}}, "attributes", "string, number or boolean"),
        ({"attributes": {"weight": float("nan")}}, "attributes", "finite number"),
        ({"attributes": {"weight": float("inf")}}, "attributes", "finite number"),
        ({"attributes": {"ean": 2**64}}, "attributes", "integer from"),
        ({"attributes": {"ean": -(2**63) - 1}}, "attributes", "integer from"),
        ({"attributes": {"note": "bad\ud800"}}, "attributes", "not valid Unicode"),
        ({"attributes": {"\udc00": "x"}}, "attributes", "non-empty text"),
        ({"name": "Milk \ud800"}, "name", "not valid Unicode"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_each_bad_field_is_named_with_its_reason(change: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(FieldErrors) as caught:
        parse_product({**VALID, **change})
    assert field in caught.value.errors
    assert reason in caught.value.errors[field]


def test_integer_attributes_at_the_64_bit_limits_are_kept() -> None:
    # 2**64 - 1: PostgreSQL gives a float of 1e19 back as this integer, and a client may send it back.
    attributes = {"largest": 2**64 - 1, "smallest": -(2**63)}
    assert parse_product({**VALID, "attributes": attributes}).values["attributes"] == attributes


def test_missing_required_fields_are_all_reported() -> None:
    with pytest.raises(FieldErrors) as caught:
        parse_product({"name": "x"})
    assert set(caught.value.errors) == {"sku", "category", "price", "currency"}


def test_partial_update_checks_only_given_fields() -> None:
    assert parse_product({"price": 3}, partial=True).values == {"price": Decimal("3.00")}

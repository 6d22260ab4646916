from decimal import Decimal
from types import SimpleNamespace

import pytest

from backend.errors import InvalidRequest
from backend.filters.search_filter import SearchFilter, filter_values_from_json, parse_filters
from backend.vectors.qdrant_filters import to_qdrant_filter


def test_parses_lists_commas_prices_and_stock() -> None:
    parsed = parse_filters(
        {"category": ["Apple,Pear", "Milk"], "price_min": ["1.5"], "price_max": ["10"], "in_stock": ["true"]}
    )
    assert parsed.categories == ("Apple", "Pear", "Milk")
    assert parsed.price_min == Decimal("1.5")
    assert parsed.price_max == Decimal("10")
    assert parsed.in_stock is True


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"colour": ["red"]}, "unknown filter field 'colour'"),
        ({"price_min": ["5"], "price_max": ["1"]}, "greater than price_max"),
        ({"price_min": ["cheap"]}, "price_min must be a number"),
        ({"price_max": ["-3"]}, ">= 0"),
        ({"in_stock": ["sometimes"]}, "in_stock"),
        ({"price_min": ["1", "2"]}, "once"),
        ({"attr.code": [2**63]}, "integer between"),  # a Qdrant filter matches signed 64-bit only
        ({"attr.code": ["red\ud800"]}, "not valid Unicode"),
        ({"category": ["Milk\udfff"]}, "not valid Unicode"),
        ({"name": ["\ud800"]}, "name must be non-empty text"),
    ],
)
def test_bad_filters_are_rejected_with_a_reason(values: dict[str, list[object]], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_filters(values)


def test_json_filters_accept_scalars_and_lists() -> None:
    values = filter_values_from_json({"category": "Apple", "brand": ["Arla", "Oatly"], "in_stock": False})
    parsed = parse_filters(values)
    assert parsed.categories == ("Apple",)
    assert parsed.brands == ("Arla", "Oatly")
    assert parsed.in_stock is False
    with pytest.raises(InvalidRequest, match="object"):
        filter_values_from_json(["category"])


def test_matches_checks_every_constraint() -> None:
    product = SimpleNamespace(
        name="Arla Standard Milk",
        category="Milk",
        brand="Arla",
        price=Decimal("12.00"),
        in_stock=True,
        attributes={"fat": 3, "organic": True, "size": "1l"},
    )
    assert SearchFilter(categories=("Milk",), price_min=Decimal(12)).matches(product, 1)
    assert not SearchFilter(categories=("Juice",)).matches(product, 1)
    assert not SearchFilter(brands=("Oatly",)).matches(product, 1)
    assert not SearchFilter(price_max=Decimal("11.99")).matches(product, 1)
    assert not SearchFilter(in_stock=False).matches(product, 1)
    assert not SearchFilter().excluding([1]).matches(product, 1)
    assert SearchFilter(name_contains="standard").matches(product, 1)
    assert not SearchFilter(name_contains="oat").matches(product, 1)
    assert SearchFilter(attributes=(("fat", (3,)), ("size", ("1l", "2l")))).matches(product, 1)
    assert not SearchFilter(attributes=(("fat", ("3",)),)).matches(product, 1)  # types are strict
    assert not SearchFilter(attributes=(("organic", (1,)),)).matches(product, 1)
    assert not SearchFilter(attributes=(("missing", ("x",)),)).matches(product, 1)


def test_attribute_and_name_fields_parse_with_typed_alternatives() -> None:
    parsed = parse_filters({"attr.fat": ["3"], "attr.organic": ["true"], "name": ["  Oat MILK "]})
    assert parsed.attributes == (("fat", ("3", 3)), ("organic", ("true", True)))
    assert parsed.name_contains == "oat milk"
    with pytest.raises(InvalidRequest, match="attribute names"):
        parse_filters({"attr.bad name": ["x"]})
    with pytest.raises(InvalidRequest, match="name must be non-empty"):
        parse_filters({"name": [" "]})
    with pytest.raises(InvalidRequest, match="string, integer or boolean"):
        parse_filters({"attr.fat": [1.5]})


def test_query_string_digits_beyond_64_bits_match_as_text_only() -> None:
    parsed = parse_filters({"attr.code": [str(2**64)], "attr.size": ["42"]})
    assert dict(parsed.attributes) == {"code": (str(2**64),), "size": ("42", 42)}
    to_qdrant_filter(parsed)  # translatable: no integer the engine would refuse


def test_qdrant_translation_covers_each_field() -> None:
    assert to_qdrant_filter(SearchFilter()) is None
    translated = to_qdrant_filter(
        SearchFilter(
            categories=("Milk",),
            brands=("Arla",),
            price_min=Decimal(1),
            in_stock=True,
            exclude_product_ids=(7,),
        )
    )
    assert translated is not None
    keys = [condition.key for condition in translated.must]  # type: ignore[union-attr]
    assert keys == ["category", "brand", "price", "in_stock"]
    assert translated.must_not[0].key == "product_id"  # type: ignore[index,union-attr]

"""JSON values as the database, JSON and Qdrant see them."""

from __future__ import annotations

import json
import math

from backend.json_values import as_indexed, decode_json, is_unicode_text, same_json


def test_same_json_keeps_types_apart_all_the_way_down() -> None:
    assert same_json({"a": [1, {"b": True}]}, {"a": [1, {"b": True}]})
    assert not same_json({"a": [1, {"b": True}]}, {"a": [1, {"b": 1}]})
    assert not same_json(1, 1.0)


def test_integers_the_index_cannot_keep_are_indexed_as_floats() -> None:
    attributes = {"big": 10**300, "negative": -(2**63) - 1, "kept": 2**64 - 1, "text": "x", "flag": True}
    indexed = as_indexed(attributes)
    assert indexed == {
        "big": 1e300,
        "negative": float(-(2**63) - 1),
        "kept": 2**64 - 1,
        "text": "x",
        "flag": True,
    }
    assert type(indexed["big"]) is float and type(indexed["kept"]) is int and indexed["flag"] is True
    assert attributes["big"] == 10**300  # the catalog's own value is left alone
    ordinary = {"size": 42, "weight": 2.5}
    assert as_indexed(ordinary) is ordinary


def test_database_json_decodes_like_qdrant_keeps_numbers() -> None:
    # PostgreSQL's JSONB hands 1e300 back as a 301-digit integer; decoded, it must be the float
    # Qdrant would store (orjson does this; as_indexed covers the standard library fallback).
    decoded = decode_json(
        '{"huge": 1' + "0" * 300 + ', "u64": 18446744073709551615, "n": -9223372036854775808}'
    )
    assert decoded == {"huge": 1e300, "u64": 2**64 - 1, "n": -(2**63)}
    assert type(decoded["huge"]) is float and type(decoded["u64"]) is int


def test_rows_orjson_refuses_are_still_read() -> None:
    # Written by earlier versions (json.dumps allows both); a sync reads every row.
    assert decode_json(json.dumps({"note": "bad\ud800"})) == {"note": "bad\ud800"}
    assert math.isnan(decode_json('{"w": NaN}')["w"])


def test_lone_surrogates_are_not_unicode_text() -> None:
    assert is_unicode_text("Äpfel 🍎")
    assert not is_unicode_text("bad\ud800")

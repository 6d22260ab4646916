"""JSON values as JSON and Qdrant see them: equality, and the numbers an index keeps."""

from __future__ import annotations

import json
from typing import Any

import orjson

# Integers Qdrant keeps as integers (signed or unsigned 64-bit); any other comes back a float.
# Attribute integers outside this range are refused on input.
KEPT_INT_MIN, KEPT_INT_MAX = -(2**63), 2**64 - 1
# Integers a Qdrant filter can match (MatchValue takes a signed 64-bit integer).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def same_json(left: Any, right: Any) -> bool:
    """Equal as JSON values: same types all the way down (Python's == has True == 1 == 1.0)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same_json(item, right[key]) for key, item in left.items())
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    return bool(left == right)


def is_unicode_text(text: str) -> bool:
    """Whether the text is valid Unicode (no lone surrogates, which JSON's \\ud800 escape allows).

    Neither orjson, PostgreSQL nor Qdrant accepts a lone surrogate, so such text is refused
    on input rather than stored where it would break every later read.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_json(document: str | bytes) -> Any:
    """JSON from the database: orjson, or the standard library for what orjson refuses.

    Rows written by earlier versions may hold a lone surrogate or NaN, which orjson refuses;
    reading them must not fail (a sync reads every row).
    """
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError:
        return json.loads(document)


def as_indexed(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes as the vector index keeps them: integers it cannot keep become floats.

    Attribute integers are checked on input, but PostgreSQL's JSONB keeps a float such as
    1e300 as an exact number and gives it back as an integer (orjson decodes that as a float
    again; the standard library, `decode_json`'s fallback, does not). Qdrant would store it
    as a float, so the sync must want the float or it would see a stale point forever.
    """
    for value in attributes.values():
        if type(value) is int and not KEPT_INT_MIN <= value <= KEPT_INT_MAX:
            return {
                key: float(item) if type(item) is int and not KEPT_INT_MIN <= item <= KEPT_INT_MAX else item
                for key, item in attributes.items()
            }
    return attributes

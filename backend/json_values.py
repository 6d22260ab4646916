"""JSON values as JSON and Qdrant see them: equality, and the numbers an index keeps."""

from __future__ import annotations

from typing import Any

# Attribute integers accepted on input: Qdrant's integer payload index is signed 64-bit.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Integers Qdrant keeps as integers (signed or unsigned 64-bit); any other comes back a float.
KEPT_INT_MIN, KEPT_INT_MAX = -(2**63), 2**64 - 1


def same_json(left: Any, right: Any) -> bool:
    """Equal as JSON values: same types all the way down (Python's == has True == 1 == 1.0)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same_json(item, right[key]) for key, item in left.items())
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    return bool(left == right)


def as_indexed(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes as the vector index keeps them: integers it cannot keep become floats.

    Attribute integers are checked on input, but PostgreSQL's JSONB keeps a float such as
    1e300 as an exact number and gives it back as an integer; Qdrant would store that as a
    float, so the sync must want the float or it would see a stale point forever.
    """
    for value in attributes.values():
        if type(value) is int and not KEPT_INT_MIN <= value <= KEPT_INT_MAX:
            return {
                key: float(item) if type(item) is int and not KEPT_INT_MIN <= item <= KEPT_INT_MAX else item
                for key, item in attributes.items()
            }
    return attributes

"""Equality of JSON values as JSON and Qdrant see them, not as Python's == does."""

from __future__ import annotations

from typing import Any


def same_json(left: Any, right: Any) -> bool:
    """Equal as JSON values: same types all the way down (Python's == has True == 1 == 1.0)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same_json(item, right[key]) for key, item in left.items())
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    return bool(left == right)

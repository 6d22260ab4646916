"""Engine-neutral values that cross the vector-store interface: points, their states, hits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# Collections (Edge) or filters (a Qdrant server) that leave at most this many points are
# scored exactly: an HNSW walk can miss the few points a narrow filter passes, and scanning
# this many is cheap (docs/search-engines.md).
EXACT_SEARCH_MAX_POINTS = 20_000


@dataclass(frozen=True)
class IndexPoint:
    """One vector to write, with its payload."""

    id: int
    vector: np.ndarray
    payload: dict[str, Any]


class PointState(NamedTuple):
    """What the index holds for one point: its whole payload, enough to tell whether it is current."""

    id: int
    payload: dict[str, Any]

    @classmethod
    def of(cls, point_id: int, payload: dict[str, Any] | None) -> PointState:
        """The state of a point read back with its payload."""
        return cls(point_id, payload or {})

    @property
    def content_hash(self) -> str | None:
        """Digest of the image bytes the vector was computed from."""
        return self.payload.get("content_hash")

    @property
    def model(self) -> str | None:
        """Key of the model that computed the vector."""
        return self.payload.get("model")


@dataclass(frozen=True)
class PayloadUpdate:
    """New payload fields for some points: merged into their payload, or replacing it whole."""

    point_ids: list[int]
    fields: dict[str, Any]
    replace: bool = False


@dataclass(frozen=True)
class ProductHit:
    """The best-matching image of one product."""

    product_id: int
    image_id: int
    score: float

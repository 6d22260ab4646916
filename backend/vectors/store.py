"""The interface every vector engine offers to sync, search and health checks, and what engines share."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from backend.errors import Unavailable
from backend.filters.search_filter import SearchFilter
from backend.vectors.types import IndexPoint, PayloadUpdate, PointState, ProductHit

Cursor = TypeVar("Cursor")

HELD_BY_ANOTHER_PROCESS = (
    "the embedded vector store is open in another process (a running `vitrine serve`?); "
    "while the server runs, sync through it with POST /admin/sync (see README), or use a "
    "Qdrant server (QDRANT_URL) for concurrent access"
)


class VectorIndex(Protocol):
    """Implemented by QdrantClientStore (a server or local mode), EdgeStore and RemoteStore."""

    embedded: bool
    prefix: str

    def collection_name(self, model_key: str) -> str: ...
    @property
    def active_alias(self) -> str: ...
    def close(self) -> None: ...
    def check(self) -> None: ...
    def has_collection(self, name: str) -> bool: ...
    def ensure_collection(self, name: str, dimension: int) -> None: ...
    def point_alias(self, alias: str, collection: str) -> None: ...
    def alias_target(self, alias: str) -> str | None: ...
    def upsert(self, name: str, points: Sequence[IndexPoint]) -> None: ...
    def update_payloads(
        self, name: str, updates: Sequence[PayloadUpdate], *, durable: bool = True
    ) -> None: ...
    def flush(self, name: str) -> None: ...
    def delete(self, name: str, point_ids: Sequence[int]) -> None: ...
    def optimize(self, name: str) -> None: ...
    def point_states(self, name: str, *, page_size: int = 1000) -> Iterator[PointState]: ...
    def vectors(self, name: str, point_ids: Sequence[int]) -> dict[int, np.ndarray]: ...
    def count(self, name: str) -> int: ...
    def search_products(
        self,
        name: str,
        vector: np.ndarray,
        search_filter: SearchFilter,
        limit: int,
        *,
        score_threshold: float | None = None,
    ) -> list[ProductHit]: ...
    def recommend_products(
        self,
        name: str,
        positive: Sequence[int | np.ndarray],
        negative: Sequence[int | np.ndarray],
        search_filter: SearchFilter,
        limit: int,
        *,
        best_score: bool = False,
        score_threshold: float | None = None,
    ) -> list[ProductHit]: ...


class NamedCollections:
    """Collection and alias naming, the same on every engine so engines can replace each other."""

    prefix: str

    def collection_name(self, model_key: str) -> str:
        """The collection that holds vectors of one model; collections never mix models."""
        return f"{self.prefix}__{model_key}"

    @property
    def active_alias(self) -> str:
        """The alias that names the collection search uses (for tools outside Vitrine)."""
        return f"{self.prefix}__active"


def scroll_states(
    read_page: Callable[[Cursor | None], tuple[Sequence[Any], Cursor | None]],
) -> Iterator[PointState]:
    """Every point's state, from an engine's scroll call (records with `id` and `payload`)."""
    offset: Cursor | None = None
    while True:
        page, offset = read_page(offset)
        for record in page:
            yield PointState.of(int(record.id), record.payload)
        if offset is None:
            return


def as_floats(vector: np.ndarray | Sequence[float]) -> list[float]:
    """A vector as the plain floats both engines' Python APIs take."""
    # tolist converts in C, 5x faster than float() per element (each query vector passes here).
    floats: list[float] = np.asarray(vector, dtype=np.float64).tolist()
    return floats


def stored_vectors(records: Sequence[Any]) -> dict[int, np.ndarray]:
    """Vectors by point id from an engine's retrieve call; records without a vector are left out."""
    return {
        int(record.id): np.asarray(record.vector, dtype=np.float32)
        for record in records
        if isinstance(record.vector, list)
    }


def held_by_another_process(error: Exception) -> Unavailable:
    """The 503 for an embedded engine whose folder another process has open."""
    unavailable = Unavailable(HELD_BY_ANOTHER_PROCESS)
    unavailable.__cause__ = error
    return unavailable

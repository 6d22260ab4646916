"""The interface every vector engine offers to sync, search and health checks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from backend.filters.search_filter import SearchFilter
from backend.settings import Settings
from backend.vectors.edge_store import EdgeVectorStore
from backend.vectors.qdrant_client_store import IndexPoint, PayloadUpdate, PointState, ProductHit, VectorStore


class VectorIndex(Protocol):
    """Implemented by VectorStore (qdrant-client: server or local mode) and EdgeVectorStore (Qdrant Edge)."""

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


def open_embedded_store(settings: Settings) -> VectorIndex:
    """The embedded engine under the data dir that the settings name (Edge, or local mode)."""
    if settings.embedded_engine == "local":
        return VectorStore.embedded_at(settings.qdrant_path, prefix=settings.collection_prefix)
    return EdgeVectorStore.embedded_at(settings.edge_path, prefix=settings.collection_prefix)

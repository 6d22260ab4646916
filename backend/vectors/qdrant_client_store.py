"""The vector store over qdrant-client (with `qdrant_filters.py`, the only modules that import it).

One facade over qdrant-client's local mode (a folder on disk, one process at a time) and a
Qdrant server or cluster (by URL). Points are product images: the point id is the image id
and the payload carries the product fields that filters need.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from backend.errors import Conflict, Unavailable, VitrineError
from backend.filters.fields import payload_indexes
from backend.filters.search_filter import SearchFilter
from backend.vectors.qdrant_filters import INDEX_TYPES, to_qdrant_filter
from backend.vectors.store import (
    NamedCollections,
    as_floats,
    held_by_another_process,
    scroll_states,
    stored_vectors,
)
from backend.vectors.types import EXACT_SEARCH_MAX_POINTS, IndexPoint, PayloadUpdate, PointState, ProductHit

T = TypeVar("T")


class QdrantClientStore(NamedCollections):
    """Facade over qdrant-client (a Qdrant server, or local mode); failing to reach it is Unavailable."""

    def __init__(self, connect: Callable[[], QdrantClient], *, embedded: bool, prefix: str) -> None:
        self._connect = connect
        self._client: QdrantClient | None = None
        self._lock = threading.RLock()
        self.embedded = embedded
        self.prefix = prefix

    @classmethod
    def embedded_at(cls, path: Path, *, prefix: str = "vitrine") -> QdrantClientStore:
        """Qdrant's embedded engine on disk; only one process may open the folder."""

        def connect() -> QdrantClient:
            path.mkdir(parents=True, exist_ok=True)
            return QdrantClient(path=str(path))

        return cls(connect, embedded=True, prefix=prefix)

    @classmethod
    def in_memory(cls, *, prefix: str = "vitrine") -> QdrantClientStore:
        """Qdrant's embedded engine in memory (tests, throwaway runs)."""
        return cls(lambda: QdrantClient(location=":memory:"), embedded=True, prefix=prefix)

    @classmethod
    def remote(cls, url: str, *, api_key: str | None = None, prefix: str = "vitrine") -> QdrantClientStore:
        """A Qdrant server or cluster."""
        return cls(
            # The client's version check runs in a thread at connect time and dies noisily
            # when the server is down; compatibility is pinned in docker-compose instead.
            lambda: QdrantClient(url=url, api_key=api_key, timeout=10, check_compatibility=False),
            embedded=False,
            prefix=prefix,
        )

    def close(self) -> None:
        """Release the client (and the embedded engine's folder lock)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _run(self, operation: Callable[[QdrantClient], T]) -> T:
        # The embedded engine is plain Python and not safe for concurrent use; the
        # lock also serialises the lazy connection so it happens once.
        with self._lock:
            try:
                if self._client is None:
                    self._client = self._connect()
                return operation(self._client)
            except VitrineError:
                raise
            except UnexpectedResponse as error:
                if error.status_code is not None and error.status_code < 500:
                    raise VitrineError(f"vector store rejected the request: {error}") from error
                raise Unavailable(f"vector store error: HTTP {error.status_code}") from error
            except (ResponseHandlingException, ConnectionError, TimeoutError) as error:
                raise Unavailable(f"vector store unreachable: {error}") from error
            except RuntimeError as error:
                if "already accessed by another instance" in str(error):
                    raise held_by_another_process(error) from error
                raise
            except Exception as error:
                if type(error).__module__.startswith(("httpx", "httpcore", "grpc")):
                    raise Unavailable(f"vector store unreachable: {error}") from error
                raise

    def check(self) -> None:
        """Raise Unavailable unless the store answers."""
        self._run(lambda client: client.get_collections())

    def has_collection(self, name: str) -> bool:
        """Whether the collection exists."""
        return self._run(lambda client: client.collection_exists(name))

    def ensure_collection(self, name: str, dimension: int) -> None:
        """Create the collection and its payload indexes unless it exists with this dimension."""

        def ensure(client: QdrantClient) -> None:
            if client.collection_exists(name):
                info = client.get_collection(name)
                params = info.config.params.vectors
                size = params.size if isinstance(params, models.VectorParams) else None
                if size != dimension:
                    raise Conflict(
                        f"collection {name!r} holds {size}-d vectors, the model makes {dimension}-d"
                    )
                return
            client.create_collection(
                name,
                vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
            )
            if not self.embedded:  # the embedded engine has no payload indexes
                for key, index in payload_indexes().items():
                    client.create_payload_index(name, key, field_schema=INDEX_TYPES[index], wait=True)

        self._run(ensure)

    def point_alias(self, alias: str, collection: str) -> None:
        """Make the alias name the collection, in one atomic step on the engine."""

        def switch(client: QdrantClient) -> None:
            operations: list[models.AliasOperations] = []
            if any(item.alias_name == alias for item in client.get_aliases().aliases):
                operations.append(
                    models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
                )
            operations.append(
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
                )
            )
            client.update_collection_aliases(change_aliases_operations=operations)

        self._run(switch)

    def alias_target(self, alias: str) -> str | None:
        """The collection an alias names, if it exists."""
        aliases = self._run(lambda client: client.get_aliases().aliases)
        return next((item.collection_name for item in aliases if item.alias_name == alias), None)

    def upsert(self, name: str, points: Sequence[IndexPoint]) -> None:
        """Write points (replacing any with the same id)."""
        if not points:
            return
        structs = [
            models.PointStruct(id=point.id, vector=point.vector.tolist(), payload=point.payload)
            for point in points
        ]
        self._run(lambda client: client.upsert(name, points=structs, wait=True))

    def update_payloads(self, name: str, updates: Sequence[PayloadUpdate], *, durable: bool = True) -> None:
        """Set payload fields (or whole payloads) of existing points without touching their vectors.

        Always durable on return (the server acknowledges each batch); `durable` is for the
        embedded engines' sake.
        """
        if not updates:
            return
        operations: list[models.UpdateOperation] = []
        for update in updates:
            change = models.SetPayload(payload=update.fields, points=list(update.point_ids))
            if update.replace:
                operations.append(models.OverwritePayloadOperation(overwrite_payload=change))
            else:
                operations.append(models.SetPayloadOperation(set_payload=change))
        self._run(lambda client: client.batch_update_points(name, operations, wait=True))

    def flush(self, name: str) -> None:
        """Nothing to do: every write was acknowledged as durable."""

    def optimize(self, name: str) -> None:
        """Nothing to do: a server indexes in the background and local mode has no index."""

    def delete(self, name: str, point_ids: Sequence[int]) -> None:
        """Remove points by id."""
        if not point_ids:
            return
        selector = models.PointIdsList(points=list(point_ids))
        self._run(lambda client: client.delete(name, points_selector=selector, wait=True))

    def point_states(self, name: str, *, page_size: int = 1000) -> Iterator[PointState]:
        """Every point's id and payload."""

        def read_page(start: Any) -> tuple[list[Any], Any]:
            return self._run(
                lambda client: client.scroll(
                    name, limit=page_size, offset=start, with_payload=True, with_vectors=False
                )
            )

        return scroll_states(read_page)

    def vectors(self, name: str, point_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors by point id; ids without a point are absent."""
        if not point_ids:
            return {}
        records = self._run(lambda client: client.retrieve(name, ids=list(point_ids), with_vectors=True))
        return stored_vectors(records)

    def count(self, name: str) -> int:
        """Number of points in the collection."""
        return self._run(lambda client: client.count(name, exact=True).count)

    def search_products(
        self,
        name: str,
        vector: np.ndarray,
        search_filter: SearchFilter,
        limit: int,
        *,
        score_threshold: float | None = None,
    ) -> list[ProductHit]:
        """Nearest products to a vector, one hit per product, best first."""
        return self._grouped_query(name, as_floats(vector), search_filter, limit, score_threshold)

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
    ) -> list[ProductHit]:
        """Products near the positive examples (point ids or raw vectors) and away from the negative."""
        strategy = (
            models.RecommendStrategy.BEST_SCORE if best_score else models.RecommendStrategy.AVERAGE_VECTOR
        )
        query = models.RecommendQuery(
            recommend=models.RecommendInput(
                positive=[_example(item) for item in positive],
                negative=[_example(item) for item in negative],
                strategy=strategy,
            )
        )
        return self._grouped_query(name, query, search_filter, limit, score_threshold)

    def _grouped_query(
        self, name: str, query: Any, search_filter: SearchFilter, limit: int, score_threshold: float | None
    ) -> list[ProductHit]:
        query_filter = to_qdrant_filter(search_filter)

        def run(client: QdrantClient) -> list[ProductHit]:
            result = client.query_points_groups(
                name,
                query=query,
                group_by="product_id",
                limit=limit,
                group_size=1,
                query_filter=query_filter,
                score_threshold=score_threshold,
                search_params=self._search_params(client, name, query_filter),
                with_payload=False,
            )
            return [
                ProductHit(int(group.id), int(group.hits[0].id), float(group.hits[0].score))
                for group in result.groups
                if group.hits
            ]

        return self._run(run)

    def _search_params(
        self, client: QdrantClient, name: str, query_filter: models.Filter | None
    ) -> models.SearchParams | None:
        """Exact search when a filter leaves few points, so a narrow filter never loses results.

        An HNSW graph walk can miss the few points that pass a selective filter; scanning
        them all is both exact and cheap. The embedded engine always scans, so only a
        server needs the count.
        """
        if self.embedded or query_filter is None:
            return None
        passing = client.count(name, count_filter=query_filter, exact=True).count
        return models.SearchParams(exact=True) if passing <= EXACT_SEARCH_MAX_POINTS else None


def _example(item: int | np.ndarray) -> models.VectorInput:
    return item if isinstance(item, int) else as_floats(item)

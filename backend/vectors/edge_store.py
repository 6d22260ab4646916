"""The vector store over Qdrant Edge: Qdrant's own engine inside the process; the embedded default.

Implements `backend.vectors.store.VectorIndex`, as `QdrantClientStore` does, so services can pick either. Each
collection is one Edge shard in its own folder under the store's root (its settings:
edge_config.py). Edge has no grouped query and no recommend-by-id, so both are built from
plain queries (edge_queries.py); see docs/search-engines.md for why this engine is the
embedded default.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as edge

from backend.errors import Conflict, Unavailable, VitrineError
from backend.filters.search_filter import SearchFilter
from backend.vectors.alias_file import AliasFile
from backend.vectors.edge_config import (
    CONFIG_FILE,
    RECOMMEND_EF,
    SEARCH_EF,
    SEGMENTS,
    call,
    create_shard,
    dimension_of,
    open_shard,
    stored_config,
)
from backend.vectors.edge_queries import grouped_query, payload_operation, recommend_query, to_edge_filter
from backend.vectors.page_cache import ReadAhead
from backend.vectors.store import NamedCollections, as_floats, scroll_states, stored_vectors
from backend.vectors.types import EXACT_SEARCH_MAX_POINTS, IndexPoint, PayloadUpdate, PointState, ProductHit

ALIASES_FILE = "aliases.json"


class EdgeStore(NamedCollections):
    """Facade over Qdrant Edge shards in one folder; one process at a time may open it."""

    embedded = True

    def __init__(
        self,
        root: Path,
        *,
        prefix: str = "vitrine",
        temporary: bool = False,
        search_ef: int | None = SEARCH_EF,
        recommend_ef: int | None = RECOMMEND_EF,
    ) -> None:
        self.root = root
        self.prefix = prefix
        self._temporary = temporary
        # HNSW beam widths (None: Edge's default); Edge widens the beam to the fetch limit.
        self.search_ef = search_ef
        self.recommend_ef = recommend_ef
        self._shards: dict[str, edge.EdgeShard] = {}
        self._alias_file = AliasFile(root / ALIASES_FILE)
        self._sizes: dict[str, int] = {}  # points per collection, dropped on every write
        self._read_ahead = ReadAhead()
        # Edge shards are safe to query from several threads, also while a write runs. _lock
        # guards opening and closing shards (the shard table); _write_lock orders writes, so
        # a long batch of payload writes never holds up a search.
        self._lock = threading.RLock()
        self._write_lock = threading.RLock()

    @classmethod
    def embedded_at(cls, path: Path, *, prefix: str = "vitrine") -> EdgeStore:
        """Edge shards on disk under `path`."""
        return cls(path, prefix=prefix)

    @classmethod
    def in_memory(cls, *, prefix: str = "vitrine") -> EdgeStore:
        """Edge shards in a temporary folder, removed on close (Edge has no memory-only mode)."""
        return cls(Path(tempfile.mkdtemp(prefix="vitrine-edge-")), prefix=prefix, temporary=True)

    def close(self) -> None:
        """Flush and close every open shard, releasing their folder locks."""
        with self._write_lock, self._lock:
            shards, self._shards = list(self._shards.values()), {}
            self._sizes.clear()
            for shard in shards:
                shard.flush()
                shard.close()
            if self._temporary:
                shutil.rmtree(self.root, ignore_errors=True)

    def check(self) -> None:
        """Raise Unavailable unless the folder is usable and every collection opens here."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise Unavailable(f"vector store folder unusable: {error}") from error
        for config in self.root.glob(f"*/{CONFIG_FILE}"):
            self._shard(config.parent.name)  # another process holding it raises Unavailable
        active = self._alias_file.target(self.active_alias)
        if active is not None:  # a server checks at start: the first searches find it read
            self._read_ahead.once(self._folder(active) / SEGMENTS)

    def has_collection(self, name: str) -> bool:
        """Whether the collection exists."""
        with self._lock:
            return name in self._shards or (self._folder(name) / CONFIG_FILE).exists()

    def ensure_collection(self, name: str, dimension: int) -> None:
        """Create the collection and its payload indexes unless it exists with this dimension."""
        with self._write_lock, self._lock:
            if self.has_collection(name):
                self._shard(name)  # fails early if another process holds it
                size = dimension_of(stored_config(self._folder(name)))
                if size != dimension:
                    raise Conflict(
                        f"collection {name!r} holds {size}-d vectors, the model makes {dimension}-d"
                    )
                return
            self.root.mkdir(parents=True, exist_ok=True)
            self._shards[name] = create_shard(self._folder(name), dimension)

    def point_alias(self, alias: str, collection: str) -> None:
        """Make the alias name the collection (Edge has no aliases: see AliasFile)."""
        with self._lock:
            self._alias_file.point(alias, collection)

    def alias_target(self, alias: str) -> str | None:
        """The collection an alias names, if it exists."""
        with self._lock:
            return self._alias_file.target(alias)

    def upsert(self, name: str, points: Sequence[IndexPoint]) -> None:
        """Write points (replacing any with the same id); durable once this returns."""
        if not points:
            return
        structs = [edge.Point(point.id, point.vector.tolist(), point.payload) for point in points]
        self._write(name, edge.UpdateOperation.upsert_points(structs))

    def update_payloads(self, name: str, updates: Sequence[PayloadUpdate], *, durable: bool = True) -> None:
        """Set payload fields (or whole payloads) of existing points, vectors untouched.

        Durable on return unless `durable` is False (then `flush` makes it so): the sync
        writes in chunks while it is still comparing, and flushes once at the end.
        """
        if not updates:
            return
        with self._write_lock:
            shard = self._shard(name)
            for update in updates:  # Edge 0.9 applies one operation per call
                call(partial(shard.update, payload_operation(update)))
            if durable:
                call(shard.flush)

    def flush(self, name: str) -> None:
        """Make every write so far durable."""
        with self._write_lock:
            call(self._shard(name).flush)

    def delete(self, name: str, point_ids: Sequence[int]) -> None:
        """Remove points by id."""
        if point_ids:
            self._write(name, edge.UpdateOperation.delete_points(list(point_ids)))

    def optimize(self, name: str) -> None:
        """Do the indexing the thresholds call for; blocks (Edge never optimises in the background).

        Builds an HNSW graph once more than UNINDEXED_MAX_POINTS points are outside one, and
        rebuilds a graph segment once DELETED_THRESHOLD of its points have moved out (payload
        writes to indexed fields move points); below both it returns at once, the points
        outside a graph being scored exactly. The sync calls it after every change.
        Collections small enough to be scored exactly skip it: an index would not be used.
        """
        with self._write_lock:
            if self._size(name) <= EXACT_SEARCH_MAX_POINTS:
                return
            shard = self._shard(name)
            call(shard.optimize)
            call(shard.flush)  # also removes the folders of segments the optimize replaced

    def point_states(self, name: str, *, page_size: int = 1000) -> Iterator[PointState]:
        """Every point's id and payload."""
        shard = self._shard(name)

        def read_page(start: Any) -> tuple[list[Any], Any]:
            request = edge.ScrollRequest(offset=start, limit=page_size, with_payload=True)
            return call(partial(shard.scroll, request))

        return scroll_states(read_page)

    def vectors(self, name: str, point_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors by point id; ids without a point are absent."""
        if not point_ids:
            return {}
        shard = self._shard(name)
        records = call(lambda: shard.retrieve(list(point_ids), False, True))
        return stored_vectors(records)

    def count(self, name: str) -> int:
        """Number of points in the collection."""
        shard = self._shard(name)
        return call(lambda: shard.count(edge.CountRequest(exact=True)))

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
        query = edge.Query.Nearest(as_floats(vector))
        return self._grouped_query(
            name, query, to_edge_filter(search_filter), limit, score_threshold, self.search_ef
        )

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
        positives = self._example_vectors(name, positive)
        negatives = self._example_vectors(name, negative)
        if not positives:
            raise VitrineError("recommendation needs at least one positive example")
        query = recommend_query(positives, negatives, best_score=best_score)
        # Like Qdrant's recommend, never return the example points themselves.
        example_ids = {item for item in [*positive, *negative] if isinstance(item, int)}
        qdrant_filter = to_edge_filter(search_filter, exclude_point_ids=example_ids)
        return self._grouped_query(name, query, qdrant_filter, limit, score_threshold, self.recommend_ef)

    def _grouped_query(
        self,
        name: str,
        query: edge.Query,
        qdrant_filter: edge.Filter | None,
        limit: int,
        score_threshold: float | None,
        hnsw_ef: int | None,
    ) -> list[ProductHit]:
        shard = self._shard(name)
        self._read_ahead.once(self._folder(name) / SEGMENTS)  # searched ones, not all `check` opens
        params: edge.SearchParams | None = None
        if self._size(name) <= EXACT_SEARCH_MAX_POINTS:
            params = edge.SearchParams(exact=True)
        elif hnsw_ef:
            params = edge.SearchParams(hnsw_ef=hnsw_ef)
        return grouped_query(shard, query, qdrant_filter, limit, score_threshold, params)

    def _size(self, name: str) -> int:
        size = self._sizes.get(name)
        if size is None:
            shard = self._shard(name)
            size = self._sizes[name] = call(lambda: shard.info().points_count)
        return size

    def _example_vectors(self, name: str, items: Sequence[int | np.ndarray]) -> list[Any]:
        ids = [item for item in items if isinstance(item, int)]
        stored = self.vectors(name, ids)
        missing = [point_id for point_id in ids if point_id not in stored]
        if missing:
            raise VitrineError(f"recommendation examples not in the index: {missing}")
        return [as_floats(stored[item] if isinstance(item, int) else item) for item in items]

    def _write(self, name: str, operation: edge.UpdateOperation) -> None:
        with self._write_lock:
            try:
                shard = self._shard(name)
                call(lambda: shard.update(operation))
                call(shard.flush)
            finally:
                # After the write, so a count a search cached during it is dropped too.
                self._sizes.pop(name, None)

    def _shard(self, name: str) -> edge.EdgeShard:
        shard = self._shards.get(name)  # open already: no lock, so searches never wait on writes
        if shard is not None:
            return shard
        with self._lock:
            shard = self._shards.get(name)
            if shard is None:
                shard = open_shard(self._folder(name), name)
                self._shards[name] = shard
            return shard

    def _folder(self, name: str) -> Path:
        return self.root / name

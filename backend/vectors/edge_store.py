"""The vector store over Qdrant Edge: Qdrant's own engine inside the process; the embedded default.

Implements `backend.vectors.store.VectorIndex`, as `QdrantClientStore` does, so services can pick either. Each
collection is one Edge shard in its own folder under the store's root. Edge has no grouped
query and no recommend-by-id, so both are built here from plain queries; see
docs/search-engines.md for why this engine is the embedded default.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import qdrant_edge as edge

from backend.errors import Conflict, Unavailable, VitrineError
from backend.filters.search_filter import SearchFilter
from backend.vectors.store import (
    NamedCollections,
    as_floats,
    held_by_another_process,
    scroll_states,
    stored_vectors,
)
from backend.vectors.types import EXACT_SEARCH_MAX_POINTS, IndexPoint, PayloadUpdate, PointState, ProductHit

T = TypeVar("T")

PAYLOAD_INDEXES: dict[str, edge.PayloadSchemaType] = {
    "product_id": edge.PayloadSchemaType.Integer,
    "image_id": edge.PayloadSchemaType.Integer,
    "sku": edge.PayloadSchemaType.Keyword,
    "category": edge.PayloadSchemaType.Keyword,
    "brand": edge.PayloadSchemaType.Keyword,
    "price": edge.PayloadSchemaType.Float,
    "in_stock": edge.PayloadSchemaType.Bool,
    "currency": edge.PayloadSchemaType.Keyword,
    "model": edge.PayloadSchemaType.Keyword,
    "content_hash": edge.PayloadSchemaType.Keyword,
}
# HNSW beam widths: None keeps Edge's default; benchmarks/search_latency.py --edge-ef measures them.
SEARCH_EF: int | None = 256
RECOMMEND_EF: int | None = 512
# Points a collection may hold outside its HNSW graphs before optimize builds one for them:
# new points, and points a payload write moved (a write to an indexed field moves the point
# out of its graph segment). Those are scored exactly, as a collection of this size is.
# Edge's default (10 MB of vectors: ~2,000 points at 1,280-d) re-indexed after every sale.
UNINDEXED_MAX_POINTS = EXACT_SEARCH_MAX_POINTS
# Share of a graph segment's points that may have moved out before the segment is rebuilt
# (Edge's default 0.2). Half of 30k points moved: search p99 17.3 ms (docs/performance.md).
DELETED_THRESHOLD = 0.5
# Points fetched per wanted product on the first grouped query; doubled while too few products.
GROUP_OVERFETCH = 4
CONFIG_FILE = "edge_config.json"
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
        self._sizes: dict[str, int] = {}  # points per collection, dropped on every write
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

    def has_collection(self, name: str) -> bool:
        """Whether the collection exists."""
        with self._lock:
            return name in self._shards or (self._folder(name) / CONFIG_FILE).exists()

    def ensure_collection(self, name: str, dimension: int) -> None:
        """Create the collection and its payload indexes unless it exists with this dimension."""
        with self._write_lock, self._lock:
            if self.has_collection(name):
                self._shard(name)  # fails early if another process holds it
                size = self._dimension(name)
                if size != dimension:
                    raise Conflict(
                        f"collection {name!r} holds {size}-d vectors, the model makes {dimension}-d"
                    )
                return
            config = edge_config(dimension)
            self.root.mkdir(parents=True, exist_ok=True)
            shard = self._call(lambda: edge.EdgeShard.create(str(self._folder(name)), config))
            for field, schema in PAYLOAD_INDEXES.items():
                shard.update(edge.UpdateOperation.create_field_index(field, schema))
            shard.flush()
            self._shards[name] = shard

    def point_alias(self, alias: str, collection: str) -> None:
        """Make the alias name the collection; Edge has no aliases, so a JSON file replaced atomically."""
        with self._lock:
            aliases = self._aliases()
            aliases[alias] = collection
            self.root.mkdir(parents=True, exist_ok=True)
            staging = self.root / f".{ALIASES_FILE}.tmp"
            with staging.open("w") as file:
                json.dump(aliases, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(staging, self.root / ALIASES_FILE)

    def alias_target(self, alias: str) -> str | None:
        """The collection an alias names, if it exists."""
        with self._lock:
            return self._aliases().get(alias)

    def _aliases(self) -> dict[str, str]:
        path = self.root / ALIASES_FILE
        return dict(json.loads(path.read_text())) if path.exists() else {}

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
                self._call(partial(shard.update, _payload_operation(update)))
            if durable:
                self._call(shard.flush)

    def flush(self, name: str) -> None:
        """Make every write so far durable."""
        with self._write_lock:
            self._call(self._shard(name).flush)

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
            self._call(shard.optimize)
            self._call(shard.flush)  # also removes the folders of segments the optimize replaced

    def point_states(self, name: str, *, page_size: int = 1000) -> Iterator[PointState]:
        """Every point's id and payload."""
        shard = self._shard(name)

        def read_page(start: Any) -> tuple[list[Any], Any]:
            request = edge.ScrollRequest(offset=start, limit=page_size, with_payload=True)
            return self._call(partial(shard.scroll, request))

        return scroll_states(read_page)

    def vectors(self, name: str, point_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors by point id; ids without a point are absent."""
        if not point_ids:
            return {}
        shard = self._shard(name)
        records = self._call(lambda: shard.retrieve(list(point_ids), False, True))
        return stored_vectors(records)

    def count(self, name: str) -> int:
        """Number of points in the collection."""
        shard = self._shard(name)
        return self._call(lambda: shard.count(edge.CountRequest(exact=True)))

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
        query: edge.Query
        if best_score:
            query = edge.Query.RecommendBestScore(edge.RecommendQuery(positives, negatives))
        else:
            query = edge.Query.Nearest(average_vector(positives, negatives))
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
        # Edge has no group-by: fetch more points than products wanted, keep each product's
        # best, and fetch again with a larger limit while a full page held too few products.
        shard = self._shard(name)
        fetch = max(limit * GROUP_OVERFETCH, 16)
        params: edge.SearchParams | None = None
        if self._size(name) <= EXACT_SEARCH_MAX_POINTS:
            params = edge.SearchParams(exact=True)
        elif hnsw_ef:
            params = edge.SearchParams(hnsw_ef=hnsw_ef)
        while True:
            request = edge.QueryRequest(
                limit=fetch,
                query=query,
                filter=qdrant_filter,
                score_threshold=score_threshold,
                with_payload=["product_id"],
                params=params,
            )
            scored = self._call(partial(shard.query, request))
            hits = best_hit_per_product(scored, limit)
            if len(hits) >= limit or len(scored) < fetch:
                return hits
            fetch *= 2

    def _size(self, name: str) -> int:
        size = self._sizes.get(name)
        if size is None:
            shard = self._shard(name)
            size = self._sizes[name] = self._call(lambda: shard.info().points_count)
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
                self._call(lambda: shard.update(operation))
                self._call(shard.flush)
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
                folder = self._folder(name)
                if not (folder / CONFIG_FILE).exists():
                    raise VitrineError(f"collection {name!r} does not exist")
                stored = self._stored_config(name)
                size = _dimension_of(stored)
                if size is not None and not _has_our_optimizers(stored, size):
                    # A shard made by an earlier version: Edge stores the new settings on load.
                    config = edge_config(size)
                    shard = self._call(lambda: edge.EdgeShard.load(str(folder), config))
                else:
                    shard = self._call(lambda: edge.EdgeShard.load(str(folder)))
                self._shards[name] = shard
            return shard

    def _folder(self, name: str) -> Path:
        return self.root / name

    def _stored_config(self, name: str) -> dict[str, Any]:
        # A loaded shard does not expose its config; Edge keeps it as JSON in the folder.
        return dict(json.loads((self._folder(name) / CONFIG_FILE).read_text()))

    def _dimension(self, name: str) -> int | None:
        return _dimension_of(self._stored_config(name))

    @staticmethod
    def _call(operation: Callable[[], T]) -> T:
        try:
            return operation()
        except VitrineError:
            raise
        except Exception as error:
            message = str(error)
            if "WouldBlock" in message or "Resource temporarily unavailable" in message:
                raise held_by_another_process(error) from error
            if type(error) is Exception and "Service runtime error" in message:
                raise Unavailable(f"vector store error: {message}") from error
            raise


def edge_config(dimension: int) -> edge.EdgeConfig:
    """A collection's Edge settings: cosine vectors and the optimizer thresholds above."""
    return edge.EdgeConfig(
        vectors=edge.EdgeVectorParams(size=dimension, distance=edge.Distance.Cosine),
        optimizers=edge.EdgeOptimizersConfig(
            deleted_threshold=DELETED_THRESHOLD, indexing_threshold=_indexing_threshold(dimension)
        ),
    )


def _indexing_threshold(dimension: int) -> int:
    # Edge counts this in kilobytes of float32 vectors per segment (rounded up: the budget fits).
    return -(-UNINDEXED_MAX_POINTS * dimension * 4 // 1024)


def _dimension_of(stored: dict[str, Any]) -> int | None:
    size = stored.get("vectors", {}).get("", {}).get("size")
    return int(size) if size is not None else None


def _has_our_optimizers(stored: dict[str, Any], dimension: int) -> bool:
    optimizers = stored.get("optimizers") or {}
    return bool(
        optimizers.get("deleted_threshold") == DELETED_THRESHOLD
        and optimizers.get("indexing_threshold") == _indexing_threshold(dimension)
    )


def best_hit_per_product(scored: Sequence[edge.ScoredPoint], limit: int) -> list[ProductHit]:
    """The first (best) hit of each product in score order, at most `limit` of them."""
    hits: list[ProductHit] = []
    seen: set[int] = set()
    for point in scored:
        product_id = int((point.payload or {})["product_id"])
        if product_id not in seen:
            seen.add(product_id)
            hits.append(ProductHit(product_id, int(point.id), float(point.score)))
            if len(hits) == limit:
                break
    return hits


def average_vector(positives: Sequence[list[float]], negatives: Sequence[list[float]]) -> list[float]:
    """Qdrant's `average_vector` recommend strategy: 2 * mean(positive) - mean(negative)."""
    mean_positive = np.mean(np.asarray(positives, dtype=np.float64), axis=0)
    if not negatives:
        return [float(value) for value in mean_positive]
    mean_negative = np.mean(np.asarray(negatives, dtype=np.float64), axis=0)
    return [float(value) for value in 2 * mean_positive - mean_negative]


def to_edge_filter(
    search_filter: SearchFilter, *, exclude_point_ids: set[int] | None = None
) -> edge.Filter | None:
    """Translate a domain filter into Edge's filter classes (the same language as Qdrant's)."""
    must: list[Any] = []
    if search_filter.categories:
        must.append(edge.FieldCondition(key="category", match=edge.MatchAny(list(search_filter.categories))))
    if search_filter.brands:
        must.append(edge.FieldCondition(key="brand", match=edge.MatchAny(list(search_filter.brands))))
    if search_filter.price_min is not None or search_filter.price_max is not None:
        must.append(
            edge.FieldCondition(
                key="price",
                range=edge.RangeFloat(
                    gte=_as_float(search_filter.price_min), lte=_as_float(search_filter.price_max)
                ),
            )
        )
    if search_filter.in_stock is not None:
        must.append(edge.FieldCondition(key="in_stock", match=_match_value(search_filter.in_stock)))
    if search_filter.name_contains is not None:
        # No text index on purpose: MatchText then matches a plain substring, as in vectors.py.
        must.append(edge.FieldCondition(key="name_lower", match=edge.MatchText(search_filter.name_contains)))
    for attribute, accepted in search_filter.attributes:
        options: list[Any] = [
            edge.FieldCondition(key=f"attributes.{attribute}", match=_match_value(value))
            for value in accepted
        ]
        must.append(edge.Filter(should=options))
    must_not: list[Any] = []
    if search_filter.exclude_product_ids:
        must_not.append(
            edge.FieldCondition(
                key="product_id", match=edge.MatchAny(list(search_filter.exclude_product_ids))
            )
        )
    if exclude_point_ids:
        must_not.append(edge.HasIdCondition(set(exclude_point_ids)))
    if not must and not must_not:
        return None
    return edge.Filter(must=must or None, must_not=must_not or None)


def _match_value(value: str | int | bool) -> edge.MatchValue:
    # qdrant-edge-py 0.9 reads a Python bool as an integer (MatchValue(False).value == 0), which
    # then matches no boolean payload; numpy's bool is not an int, so it stays a bool.
    return edge.MatchValue(np.bool_(value) if isinstance(value, bool) else value)  # type: ignore[arg-type]


def _payload_operation(update: PayloadUpdate) -> edge.UpdateOperation:
    if update.replace:
        return edge.UpdateOperation.overwrite_payload(list(update.point_ids), update.fields)
    return edge.UpdateOperation.set_payload(list(update.point_ids), update.fields)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)

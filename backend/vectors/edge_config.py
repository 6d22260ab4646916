"""How each Qdrant Edge shard is made, opened and called: its settings, and its errors as Vitrine's.

Edge builds HNSW only when asked (`optimize`) and rebuilds by thresholds stored in each shard's
config file; Vitrine's thresholds keep small collections and payload-only changes exact and
cheap (docs/architecture.md, "The embedded engine").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import qdrant_edge as edge

from backend.errors import Unavailable, VitrineError
from backend.filters.fields import IndexType, payload_indexes
from backend.vectors.store import held_by_another_process
from backend.vectors.types import EXACT_SEARCH_MAX_POINTS

T = TypeVar("T")

INDEX_TYPES = {
    IndexType.INTEGER: edge.PayloadSchemaType.Integer,
    IndexType.KEYWORD: edge.PayloadSchemaType.Keyword,
    IndexType.FLOAT: edge.PayloadSchemaType.Float,
    IndexType.BOOL: edge.PayloadSchemaType.Bool,
}
# HNSW beam widths: None keeps Edge's default; benchmarks/search_latency.py --edge-ef measures them.
# Search keeps recall@10 above 0.99 at 128 on both benchmarks' clustered data (photo and product
# queries alike), and the beam is most of a similar-products request's time (docs/performance.md).
SEARCH_EF: int | None = 128
RECOMMEND_EF: int | None = 512
# Points a collection may hold outside its HNSW graphs before optimize builds one for them:
# new points, and points a payload write moved (a write to an indexed field moves the point
# out of its graph segment). Those are scored exactly, as a collection of this size is.
# Edge's default (10 MB of vectors) re-indexes after every sale (docs/performance.md).
UNINDEXED_MAX_POINTS = EXACT_SEARCH_MAX_POINTS
# Share of a graph segment's points that may have moved out before the segment is rebuilt
# (Edge's default 0.2): a sale repricing a large share of the catalog rebuilds nothing, and
# search stays fast on the moved points (docs/performance.md).
DELETED_THRESHOLD = 0.5
CONFIG_FILE = "edge_config.json"
# The folder of a shard that holds what searches read (beside it, the write-ahead log).
SEGMENTS = "segments"


def edge_config(dimension: int) -> edge.EdgeConfig:
    """A collection's Edge settings: cosine vectors and the optimizer thresholds above."""
    return edge.EdgeConfig(
        vectors=edge.EdgeVectorParams(size=dimension, distance=edge.Distance.Cosine),
        optimizers=edge.EdgeOptimizersConfig(
            deleted_threshold=DELETED_THRESHOLD, indexing_threshold=indexing_threshold(dimension)
        ),
    )


def indexing_threshold(dimension: int) -> int:
    """UNINDEXED_MAX_POINTS in the unit Edge counts it in."""
    # Edge counts this in kilobytes of float32 vectors per segment (rounded up: the budget fits).
    return -(-UNINDEXED_MAX_POINTS * dimension * 4 // 1024)


def dimension_of(stored: dict[str, Any]) -> int | None:
    """The vector size a shard's stored config names, if any."""
    size = stored.get("vectors", {}).get("", {}).get("size")
    return int(size) if size is not None else None


def has_our_optimizers(stored: dict[str, Any], dimension: int) -> bool:
    """Whether a shard's stored config has Vitrine's thresholds (older collections take them on open)."""
    optimizers = stored.get("optimizers") or {}
    return bool(
        optimizers.get("deleted_threshold") == DELETED_THRESHOLD
        and optimizers.get("indexing_threshold") == indexing_threshold(dimension)
    )


def stored_config(folder: Path) -> dict[str, Any]:
    """A shard's settings as Edge keeps them, JSON in its folder (a loaded shard does not expose them)."""
    return dict(json.loads((folder / CONFIG_FILE).read_text()))


def create_shard(folder: Path, dimension: int) -> edge.EdgeShard:
    """Make a shard with `edge_config`'s settings and a payload index on every field filters use."""
    config = edge_config(dimension)
    shard = call(lambda: edge.EdgeShard.create(str(folder), config))
    for key, index in payload_indexes().items():
        shard.update(edge.UpdateOperation.create_field_index(key, INDEX_TYPES[index]))
    shard.flush()
    return shard


def open_shard(folder: Path, name: str) -> edge.EdgeShard:
    """Load an existing shard; one made by an earlier version gets `edge_config`'s settings."""
    if not (folder / CONFIG_FILE).exists():
        raise VitrineError(f"collection {name!r} does not exist")
    stored = stored_config(folder)
    size = dimension_of(stored)
    if size is not None and not has_our_optimizers(stored, size):
        config = edge_config(size)  # Edge stores the new settings on load
        return call(lambda: edge.EdgeShard.load(str(folder), config))
    return call(lambda: edge.EdgeShard.load(str(folder)))


def call(operation: Callable[[], T]) -> T:
    """Run an Edge call; a folder locked by another process or a runtime failure is Unavailable."""
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

"""Rank a gallery of unit vectors for each query by cosine similarity, and score the rankings."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from embedder.evaluation.metrics import average_precision, map_at_r, ndcg_at_k, precision_at_k, recall_at_k

# Queries scored per matrix product: 1,024 x 100,000 float32 similarities is 400 MB at most.
QUERY_CHUNK = 1024


def rank_gallery(
    query_vectors: npt.ArrayLike,
    gallery_vectors: npt.ArrayLike,
    gallery_labels: npt.ArrayLike,
    k: int | None,
    *,
    exclude_self: bool = False,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """Gallery indices and labels, shape (n_queries, k), most similar first; k=None ranks them all.

    Vectors must be L2-normalised rows, so cosine similarity is a dot product. Equal similarities
    keep gallery order. With exclude_self, query i is gallery item i (the queries are the first
    rows of the gallery) and never appears in its own ranking.
    """
    queries = _matrix(query_vectors, "query_vectors")
    gallery = _matrix(gallery_vectors, "gallery_vectors")
    labels = np.asarray(gallery_labels)
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"query and gallery dimensions differ: {queries.shape[1]} != {gallery.shape[1]}")
    if labels.shape != (len(gallery),):
        raise ValueError(f"gallery_labels must have shape ({len(gallery)},), got {labels.shape}")
    if exclude_self and len(queries) > len(gallery):
        raise ValueError("exclude_self needs the queries to be the first rows of the gallery")
    available = len(gallery) - 1 if exclude_self else len(gallery)
    depth = available if k is None else k
    if not 1 <= depth <= available:
        raise ValueError(f"k must be between 1 and the {available} rankable gallery items, got {k}")
    indices = np.empty((len(queries), depth), dtype=np.int64)
    for start in range(0, len(queries), QUERY_CHUNK):
        similarities = queries[start : start + QUERY_CHUNK] @ gallery.T
        # Negated so a stable ascending sort puts the most similar first and keeps ties in order.
        order = np.argsort(-similarities, axis=1, kind="stable")
        if exclude_self:
            rows = np.arange(start, start + len(order))
            order = order[order != rows[:, None]].reshape(len(order), -1)
        indices[start : start + len(order)] = order[:, :depth]
    return indices, labels[indices]


def relevant_counts(
    query_labels: npt.ArrayLike, gallery_labels: npt.ArrayLike, *, exclude_self: bool = False
) -> npt.NDArray[np.int64]:
    """R per query: how many gallery items share its label (less itself, with exclude_self)."""
    names, counts = np.unique(np.asarray(gallery_labels), return_counts=True)
    count_of = dict(zip(names.tolist(), counts.tolist(), strict=True))
    per_query = np.array(
        [count_of.get(label, 0) for label in np.asarray(query_labels).tolist()], dtype=np.int64
    )
    return np.maximum(per_query - 1, 0) if exclude_self else per_query


def evaluate_retrieval(
    query_vectors: npt.ArrayLike,
    query_labels: npt.ArrayLike,
    gallery_vectors: npt.ArrayLike,
    gallery_labels: npt.ArrayLike,
    ks: Sequence[int] = (1, 5, 10),
    *,
    exclude_self: bool = False,
) -> dict[str, float]:
    """Rank the whole gallery for each query and score it with score_rankings."""
    _, ranked_labels = rank_gallery(
        query_vectors, gallery_vectors, gallery_labels, None, exclude_self=exclude_self
    )
    counts = relevant_counts(query_labels, gallery_labels, exclude_self=exclude_self)
    return score_rankings(ranked_labels, query_labels, counts, ks)


def score_rankings(
    ranked_labels: npt.ArrayLike,
    query_labels: npt.ArrayLike,
    relevant_counts: npt.ArrayLike,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """recall@k and precision@k for each k, "map@r", "map" and nDCG at the largest k.

    ranked_labels must rank the whole gallery. Queries with no relevant gallery item (R = 0) are
    left out, as pytorch-metric-learning leaves out lone query labels; if none is left, every
    metric is 0.
    """
    if not ks:
        raise ValueError("ks must name at least one cut-off")
    ranked, labels, counts = np.asarray(ranked_labels), np.asarray(query_labels), np.asarray(relevant_counts)
    if labels.shape != (len(ranked),) or counts.shape != (len(ranked),):
        raise ValueError(f"query_labels and relevant_counts must have shape ({len(ranked)},)")
    largest = max(ks)
    names = [f"{metric}@{k}" for metric in ("recall", "precision") for k in ks]
    names += ["map@r", "map", f"ndcg@{largest}"]
    scored = counts > 0
    if not scored.any():
        return dict.fromkeys(names, 0.0)
    ranked, labels, counts = ranked[scored], labels[scored], counts[scored]
    metrics = {f"recall@{k}": recall_at_k(ranked, labels, k) for k in ks}
    metrics |= {f"precision@{k}": precision_at_k(ranked, labels, k) for k in ks}
    metrics["map@r"] = map_at_r(ranked, labels, counts)
    metrics["map"] = average_precision(ranked, labels, counts)
    metrics[f"ndcg@{largest}"] = ndcg_at_k(ranked, labels, largest, counts)
    return metrics


def _matrix(vectors: npt.ArrayLike, name: str) -> npt.NDArray[np.float32]:
    """A 2-D float32 array, or a ValueError naming the argument."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, dimension), got shape {array.shape}")
    return array

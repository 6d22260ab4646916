"""Retrieval metrics as pure functions of ranked gallery labels and the queries' own labels.

Every function takes `ranked_labels`, shape (n_queries, m): row i holds the labels of the gallery
items in the order they were retrieved for query i, and `query_labels`, shape (n_queries,). An item
is relevant to a query when the labels are equal. `relevant_counts`, shape (n_queries,), is R: how
many relevant items the whole gallery holds for each query.

A query with no relevant item in the gallery (R = 0) scores 0 under every metric here, so each
function stays a plain mean over the rows it is given. Callers that want such queries left out
(as pytorch-metric-learning leaves out "lone" query labels) drop those rows first, as
`embedder.evaluation.retrieval.evaluate_retrieval` does.
"""

import numpy as np
import numpy.typing as npt


def recall_at_k(ranked_labels: npt.ArrayLike, query_labels: npt.ArrayLike, k: int) -> float:
    """Fraction of queries with at least one relevant item among the top k ("Recall@K")."""
    hits = _top_k_hits(ranked_labels, query_labels, k)
    return float(hits.any(axis=1).mean())


def precision_at_k(ranked_labels: npt.ArrayLike, query_labels: npt.ArrayLike, k: int) -> float:
    """Mean fraction of the top k that is relevant."""
    hits = _top_k_hits(ranked_labels, query_labels, k)
    return float(hits.mean(axis=1).mean())


def map_at_r(
    ranked_labels: npt.ArrayLike, query_labels: npt.ArrayLike, relevant_counts: npt.ArrayLike
) -> float:
    """MAP@R (Musgrave et al. 2020): per query, sum of precision@i at hits in the first R ranks, over R."""
    hits, counts = _hits_and_counts(ranked_labels, query_labels, relevant_counts)
    widest = int(counts.max())
    if widest > hits.shape[1]:
        raise ValueError(f"MAP@R needs at least max(R) = {widest} ranked columns, got {hits.shape[1]}")
    # Only the first R ranks of each query count; columns past its R are masked out.
    within_r = np.arange(widest)[None, :] < counts[:, None]
    return _mean_precision_at_hits(hits[:, :widest] & within_r, counts)


def average_precision(
    ranked_labels: npt.ArrayLike, query_labels: npt.ArrayLike, relevant_counts: npt.ArrayLike
) -> float:
    """Mean average precision over the full ranking, which must contain every relevant item."""
    hits, counts = _hits_and_counts(ranked_labels, query_labels, relevant_counts)
    found = hits.sum(axis=1)
    short = np.flatnonzero(found != counts)
    if short.size:
        row = int(short[0])
        raise ValueError(
            f"average_precision needs the whole gallery ranked: query {row} has R = {int(counts[row])} "
            f"relevant items but {int(found[row])} in its ranking"
        )
    return _mean_precision_at_hits(hits, counts)


def ndcg_at_k(
    ranked_labels: npt.ArrayLike, query_labels: npt.ArrayLike, k: int, relevant_counts: npt.ArrayLike
) -> float:
    """Mean nDCG@k with binary relevance and a log2(rank + 1) discount; ideal DCG has min(R, k) hits."""
    hits, counts = _hits_and_counts(ranked_labels, query_labels, relevant_counts)
    hits = hits[:, : _checked_k(k, hits.shape[1])]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    gains = (hits * discounts).sum(axis=1)
    # ideal[n] is the DCG of n hits at the top; ideal[0] = 0 is replaced so R = 0 scores 0, not 0/0.
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(counts, k)]
    scores = np.divide(gains, ideal, out=np.zeros_like(gains), where=ideal > 0)
    return float(scores.mean())


def _mean_precision_at_hits(hits: npt.NDArray[np.bool_], counts: npt.NDArray[np.int64]) -> float:
    """Mean over queries of (sum of precision@i at each hit i) / R, with R = 0 scoring 0."""
    ranks = np.arange(1, hits.shape[1] + 1)
    precision_sums = ((np.cumsum(hits, axis=1) / ranks) * hits).sum(axis=1)
    scores = np.divide(precision_sums, counts, out=np.zeros(len(counts)), where=counts > 0)
    return float(scores.mean())


def _top_k_hits(ranked_labels: npt.ArrayLike, query_labels: npt.ArrayLike, k: int) -> npt.NDArray[np.bool_]:
    """Boolean (n_queries, k): whether each of the top k items is relevant."""
    hits = _hits(ranked_labels, query_labels)
    return hits[:, : _checked_k(k, hits.shape[1])]


def _checked_k(k: int, columns: int) -> int:
    """k itself, once it is known to be a rank cut-off that the ranking covers."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k > columns:
        raise ValueError(f"k = {k} is more than the {columns} ranked columns")
    return k


def _hits_and_counts(
    ranked_labels: npt.ArrayLike, query_labels: npt.ArrayLike, relevant_counts: npt.ArrayLike
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Relevance matrix and R per query, checked against each other."""
    hits = _hits(ranked_labels, query_labels)
    counts = np.asarray(relevant_counts)
    if counts.shape != (hits.shape[0],):
        raise ValueError(f"relevant_counts must have shape ({hits.shape[0]},), got {counts.shape}")
    if not np.issubdtype(counts.dtype, np.integer):
        raise ValueError(f"relevant_counts must be integers, got dtype {counts.dtype}")
    counts = counts.astype(np.int64)
    if (counts < 0).any():
        raise ValueError("relevant_counts must not be negative")
    # A ranking cannot hold more relevant items than the gallery has; if it does, R is wrong.
    over = np.flatnonzero(hits.sum(axis=1) > counts)
    if over.size:
        row = int(over[0])
        raise ValueError(f"query {row} has more relevant items ranked than its R = {int(counts[row])}")
    return hits, counts


def _hits(ranked_labels: npt.ArrayLike, query_labels: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Boolean (n_queries, m): whether each ranked item has its query's label."""
    ranked = np.asarray(ranked_labels)
    queries = np.asarray(query_labels)
    if ranked.ndim != 2:
        raise ValueError(f"ranked_labels must be 2-D (n_queries, m), got shape {ranked.shape}")
    if queries.shape != (ranked.shape[0],):
        raise ValueError(f"query_labels must have shape ({ranked.shape[0]},), got {queries.shape}")
    if ranked.shape[0] == 0:
        raise ValueError("there are no queries to score")
    return np.asarray(ranked == queries[:, None], dtype=np.bool_)

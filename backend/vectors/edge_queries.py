"""Vitrine's requests in Qdrant Edge's terms: filters, grouped and recommend queries, payload writes.

Edge 0.9 has neither a grouped query nor recommend-by-id; `EdgeStore` builds both from plain
queries with these pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import qdrant_edge as edge

from backend.filters.fields import Kind
from backend.filters.search_filter import SearchFilter
from backend.vectors.edge_config import call
from backend.vectors.types import PayloadUpdate, ProductHit

# Points fetched per wanted product on the first grouped query; doubled while too few products.
GROUP_OVERFETCH = 4


def grouped_query(
    shard: edge.EdgeShard,
    query: edge.Query,
    qdrant_filter: edge.Filter | None,
    limit: int,
    score_threshold: float | None,
    params: edge.SearchParams | None,
) -> list[ProductHit]:
    """Each product's best hit for a query on a shard, at most `limit` of them, best first."""

    def query_points(fetch: int) -> list[edge.ScoredPoint]:
        request = edge.QueryRequest(
            limit=fetch,
            query=query,
            filter=qdrant_filter,
            score_threshold=score_threshold,
            with_payload=["product_id"],
            params=params,
        )
        return call(partial(shard.query, request))

    return best_hits_per_product(query_points, limit)


def best_hits_per_product(
    query_points: Callable[[int], Sequence[edge.ScoredPoint]], limit: int
) -> list[ProductHit]:
    """A grouped query from plain ones: each product's best hit, at most `limit` of them, best first.

    Edge has no group-by: fetch more points than products wanted (`query_points(fetch)`), keep
    each product's best, and fetch again with a larger limit while a full page held too few.
    """
    fetch = max(limit * GROUP_OVERFETCH, 16)
    while True:
        scored = query_points(fetch)
        hits = best_hit_per_product(scored, limit)
        if len(hits) >= limit or len(scored) < fetch:
            return hits
        fetch *= 2


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


def recommend_query(positives: list[Any], negatives: list[Any], *, best_score: bool) -> edge.Query:
    """Qdrant's recommend strategies as Edge queries: best score, or nearest to the average vector."""
    if best_score:
        return edge.Query.RecommendBestScore(edge.RecommendQuery(positives, negatives))
    return edge.Query.Nearest(average_vector(positives, negatives))


def to_edge_filter(
    search_filter: SearchFilter, *, exclude_point_ids: set[int] | None = None
) -> edge.Filter | None:
    """Translate a domain filter into Edge's filter classes, one condition per declared field."""
    must: list[Any] = []
    must_not: list[Any] = []
    for declaration, constraint in search_filter.conditions():
        key = declaration.payload.key
        kind = declaration.kind
        if kind is Kind.NONE_OF:
            must_not.append(edge.FieldCondition(key=key, match=edge.MatchAny(list(constraint))))
        elif kind is Kind.ANY_OF:
            must.append(edge.FieldCondition(key=key, match=edge.MatchAny(list(constraint))))
        elif kind is Kind.AT_LEAST:
            must.append(edge.FieldCondition(key=key, range=edge.RangeFloat(gte=float(constraint))))
        elif kind is Kind.AT_MOST:
            must.append(edge.FieldCondition(key=key, range=edge.RangeFloat(lte=float(constraint))))
        elif kind is Kind.EQUALS:
            must.append(edge.FieldCondition(key=key, match=match_value(constraint)))
        elif kind is Kind.CONTAINS:
            must.append(edge.FieldCondition(key=key, match=edge.MatchText(constraint)))
        else:
            for attribute, accepted in constraint:
                options: list[Any] = [
                    edge.FieldCondition(key=f"{key}.{attribute}", match=match_value(value))
                    for value in accepted
                ]
                must.append(edge.Filter(should=options))
    if exclude_point_ids:
        must_not.append(edge.HasIdCondition(set(exclude_point_ids)))
    if not must and not must_not:
        return None
    return edge.Filter(must=must or None, must_not=must_not or None)


def match_value(value: str | int | bool) -> edge.MatchValue:
    """An exact-match condition value that Edge compares as the payload's own type."""
    # qdrant-edge-py 0.9 reads a Python bool as an integer (MatchValue(False).value == 0), which
    # then matches no boolean payload; numpy's bool is not an int, so it stays a bool.
    return edge.MatchValue(np.bool_(value) if isinstance(value, bool) else value)  # type: ignore[arg-type]


def payload_operation(update: PayloadUpdate) -> edge.UpdateOperation:
    """A payload update as Edge's operation: set the given fields, or replace the whole payload."""
    if update.replace:
        return edge.UpdateOperation.overwrite_payload(list(update.point_ids), update.fields)
    return edge.UpdateOperation.set_payload(list(update.point_ids), update.fields)

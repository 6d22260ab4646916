"""Tests for embedder.evaluation.metrics against small cases worked out by hand."""

from math import log2

import numpy as np
import numpy.typing as npt
import pytest

from embedder.evaluation.metrics import average_precision, map_at_r, ndcg_at_k, precision_at_k, recall_at_k

# A gallery of five items labelled {0, 0, 1, 1, 2}, fully ranked for three queries.
QUERY_LABELS = np.array([0, 1, 2])
RANKED_LABELS = np.array(
    [
        [0, 1, 0, 2, 1],  # label 0, R = 2: hits at ranks 1 and 3
        [0, 1, 2, 0, 1],  # label 1, R = 2: hits at ranks 2 and 5
        [1, 0, 2, 0, 1],  # label 2, R = 1: hit at rank 3
    ]
)
RELEVANT_COUNTS = np.array([2, 2, 1])


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (1, 1 / 3),  # only the first query has a hit at rank 1
        (2, 2 / 3),  # the second query's hit at rank 2 joins it
        (3, 1.0),  # the third query's hit at rank 3: every query has one
        (5, 1.0),
    ],
)
def test_recall_at_k(k: int, expected: float) -> None:
    assert recall_at_k(RANKED_LABELS, QUERY_LABELS, k) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (1, (1 + 0 + 0) / 3),
        (3, (2 / 3 + 1 / 3 + 1 / 3) / 3),  # 4/9
        (5, (2 / 5 + 2 / 5 + 1 / 5) / 3),  # every hit in the gallery: (R / 5) averaged, 1/3
    ],
)
def test_precision_at_k(k: int, expected: float) -> None:
    assert precision_at_k(RANKED_LABELS, QUERY_LABELS, k) == pytest.approx(expected)


def test_map_at_r() -> None:
    # Query 0, R = 2, first two ranks [0, 1]: hit at 1, P@1 = 1, so (1) / 2 = 0.5.
    # Query 1, R = 2, first two ranks [0, 1]: hit at 2, P@2 = 1/2, so (1/2) / 2 = 0.25.
    # Query 2, R = 1, first rank [1]: no hit, 0. The hit at rank 3 is past R and does not count.
    # Mean: (0.5 + 0.25 + 0) / 3 = 0.25.
    assert map_at_r(RANKED_LABELS, QUERY_LABELS, RELEVANT_COUNTS) == pytest.approx(0.25)


def test_map_at_r_ignores_hits_after_rank_r() -> None:
    # R = 3, hits at ranks 1, 3 and 4: (P@1 + P@3) / R = (1 + 2/3) / 3 = 5/9; rank 4 is past R.
    assert map_at_r([[7, 5, 7, 7]], [7], [3]) == pytest.approx(5 / 9)


def test_map_at_r_needs_r_columns() -> None:
    with pytest.raises(ValueError, match=r"max\(R\) = 3"):
        map_at_r([[1, 0]], [1], [3])


def test_average_precision() -> None:
    # Query 0: hits at 1 and 3, (1 + 2/3) / 2 = 5/6.
    # Query 1: hits at 2 and 5, (1/2 + 2/5) / 2 = 9/20.
    # Query 2: hit at 3, (1/3) / 1 = 1/3.
    # Mean: (50/60 + 27/60 + 20/60) / 3 = 97/180.
    assert average_precision(RANKED_LABELS, QUERY_LABELS, RELEVANT_COUNTS) == pytest.approx(97 / 180)


def test_average_precision_needs_the_whole_ranking() -> None:
    with pytest.raises(ValueError, match="whole gallery"):
        average_precision(RANKED_LABELS[:, :3], QUERY_LABELS, RELEVANT_COUNTS)


def test_ndcg_at_k() -> None:
    # Discounts 1/log2(rank + 1): rank 1 -> 1, rank 2 -> 1/log2(3), rank 3 -> 1/2.
    ideal_two = 1 + 1 / log2(3)  # R = 2 hits at the top of three
    query_0 = (1 + 1 / 2) / ideal_two  # hits at 1 and 3
    query_1 = (1 / log2(3)) / ideal_two  # hit at 2
    query_2 = (1 / 2) / 1  # hit at 3; R = 1, so the ideal is a hit at rank 1
    expected = (query_0 + query_1 + query_2) / 3  # about 0.602
    assert ndcg_at_k(RANKED_LABELS, QUERY_LABELS, 3, RELEVANT_COUNTS) == pytest.approx(expected)


def test_ndcg_ideal_is_capped_at_k() -> None:
    # R = 3 but k = 2: the ideal is two hits, so two hits at the top score exactly 1.
    assert ndcg_at_k([[4, 4, 0, 4]], [4], 2, [3]) == pytest.approx(1.0)


def test_a_perfect_ranking_scores_one_everywhere() -> None:
    ranked = np.array([[3, 3, 8], [8, 3, 3]])
    queries, counts = np.array([3, 8]), np.array([2, 1])
    assert recall_at_k(ranked, queries, 1) == 1.0
    assert precision_at_k(ranked, queries, 1) == 1.0
    assert map_at_r(ranked, queries, counts) == pytest.approx(1.0)
    assert average_precision(ranked, queries, counts) == pytest.approx(1.0)
    assert ndcg_at_k(ranked, queries, 3, counts) == pytest.approx(1.0)


def test_a_query_with_nothing_relevant_scores_zero() -> None:
    # Query "b" (R = 0) scores 0 under every metric; query "a" has its one item at rank 1.
    ranked, queries, counts = np.array([["a", "c"], ["a", "c"]]), np.array(["a", "b"]), np.array([1, 0])
    assert recall_at_k(ranked, queries, 1) == pytest.approx(0.5)
    assert precision_at_k(ranked, queries, 1) == pytest.approx(0.5)
    assert map_at_r(ranked, queries, counts) == pytest.approx(0.5)
    assert average_precision(ranked, queries, counts) == pytest.approx(0.5)
    assert ndcg_at_k(ranked, queries, 2, counts) == pytest.approx(0.5)


def test_only_queries_with_nothing_relevant_score_zero() -> None:
    assert map_at_r([[1, 1]], [0], [0]) == 0.0
    assert average_precision([[1, 1]], [0], [0]) == 0.0
    assert ndcg_at_k([[1, 1]], [0], 2, [0]) == 0.0


@pytest.mark.parametrize("k", [0, 6])
def test_k_outside_the_ranking_is_rejected(k: int) -> None:
    with pytest.raises(ValueError, match="k"):
        recall_at_k(RANKED_LABELS, QUERY_LABELS, k)
    with pytest.raises(ValueError, match="k"):
        precision_at_k(RANKED_LABELS, QUERY_LABELS, k)
    with pytest.raises(ValueError, match="k"):
        ndcg_at_k(RANKED_LABELS, QUERY_LABELS, k, RELEVANT_COUNTS)


@pytest.mark.parametrize(
    ("ranked", "queries", "counts", "message"),
    [
        ([0, 1, 2], [0], [1], "2-D"),
        ([[0, 1], [1, 0]], [0], [1, 1], "query_labels must have shape"),
        ([[0, 1], [1, 0]], [0, 1], [1], "relevant_counts must have shape"),
        ([[0, 1]], [0], [1.0], "integers"),
        ([[0, 1]], [0], [-1], "negative"),
        ([[0, 0]], [0], [1], "more relevant items ranked than its R"),
        (np.empty((0, 3)), np.empty(0), np.empty(0, dtype=int), "no queries"),
    ],
)
def test_bad_shapes_and_counts_are_rejected(
    ranked: npt.ArrayLike, queries: npt.ArrayLike, counts: npt.ArrayLike, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        map_at_r(ranked, queries, counts)

"""Tests for embedder.evaluation.retrieval: ranking a gallery by cosine similarity and scoring it."""

import numpy as np
import numpy.typing as npt
import pytest

from embedder.evaluation import retrieval
from embedder.evaluation.retrieval import evaluate_retrieval, rank_gallery, relevant_counts, score_rankings


def unit(rows: list[list[float]]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length."""
    array = np.asarray(rows, dtype=np.float32)
    array /= np.linalg.norm(array, axis=1, keepdims=True)
    return array


def test_rank_gallery_orders_by_cosine_similarity() -> None:
    gallery = unit([[1, 0], [0, 1], [1, 1], [-1, 0]])
    queries = unit([[1, 0.1], [0, 1]])
    indices, labels = rank_gallery(queries, gallery, np.array([10, 11, 12, 13]), 3)
    # Query 0 lies nearest [1, 0], then the diagonal, then [0, 1]; query 1 is [0, 1] itself.
    assert indices.tolist() == [[0, 2, 1], [1, 2, 0]]
    assert labels.tolist() == [[10, 12, 11], [11, 12, 10]]


def test_rank_gallery_keeps_gallery_order_for_ties() -> None:
    gallery = unit([[0, 1], [1, 0], [0, 1], [1, 0]])
    indices, _ = rank_gallery(unit([[1, 0]]), gallery, np.zeros(4), None)
    assert indices.tolist() == [[1, 3, 0, 2]]


def test_rank_gallery_excludes_self_matches() -> None:
    vectors = unit([[1, 0], [1, 0.2], [0, 1]])
    indices, labels = rank_gallery(vectors[:2], vectors, np.array([5, 5, 6]), None, exclude_self=True)
    assert indices.tolist() == [[1, 2], [0, 2]]
    assert labels.tolist() == [[5, 6], [5, 6]]


def test_rank_gallery_is_the_same_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = unit(np.random.default_rng(0).normal(size=(7, 4)).tolist())
    labels = np.arange(7)
    whole = rank_gallery(vectors, vectors, labels, None, exclude_self=True)
    monkeypatch.setattr(retrieval, "QUERY_CHUNK", 2)
    chunked = rank_gallery(vectors, vectors, labels, None, exclude_self=True)
    assert np.array_equal(whole[0], chunked[0])


@pytest.mark.parametrize(
    ("queries", "gallery", "labels", "k", "exclude_self", "message"),
    [
        ([[1.0, 0.0]], [[1.0, 0.0, 0.0]], [0], 1, False, "dimensions differ"),
        ([[1.0, 0.0]], [[1.0, 0.0]], [0, 1], 1, False, "gallery_labels"),
        ([[1.0, 0.0]], [[1.0, 0.0]], [0], 2, False, "k must be between 1 and the 1"),
        ([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], [0, 1], 2, True, "k must be between 1 and the 1"),
        ([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0]], [0], 1, True, "first rows"),
        ([1.0, 0.0], [[1.0, 0.0]], [0], 1, False, "2-D"),
    ],
)
def test_rank_gallery_rejects_bad_input(
    queries: list[list[float]],
    gallery: list[list[float]],
    labels: list[int],
    k: int,
    exclude_self: bool,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        rank_gallery(queries, gallery, labels, k, exclude_self=exclude_self)


def test_relevant_counts() -> None:
    assert relevant_counts([1, 2, 9], [1, 1, 2, 3]).tolist() == [2, 1, 0]
    assert relevant_counts([1, 1, 2], [1, 1, 2, 3], exclude_self=True).tolist() == [1, 1, 0]


def test_evaluate_retrieval_on_separated_clusters_is_perfect() -> None:
    vectors = unit([[1, 0.1], [1, -0.1], [0.1, 1], [-0.1, 1]])
    metrics = evaluate_retrieval(vectors, [0, 0, 1, 1], vectors, [0, 0, 1, 1], ks=(1, 2), exclude_self=True)
    assert list(metrics) == ["recall@1", "recall@2", "precision@1", "precision@2", "map@r", "map", "ndcg@2"]
    # Each query's one other relevant item is its nearest neighbour, so only precision@2 falls short.
    assert metrics == pytest.approx({**dict.fromkeys(metrics, 1.0), "precision@2": 0.5})


def test_score_rankings_leaves_out_queries_with_nothing_relevant() -> None:
    # The second query's label is not in the gallery; the first is found at rank 1, so all scores are 1.
    metrics = score_rankings([[3, 4], [3, 4]], [3, 9], [1, 0], ks=(1,))
    assert metrics == pytest.approx(dict.fromkeys(metrics, 1.0))
    assert score_rankings([[3, 4]], [9], [0], ks=(1,)) == dict.fromkeys(metrics, 0.0)

"""Our retrieval metrics against pytorch-metric-learning's AccuracyCalculator, an independent
implementation, on the same embeddings: precision@1 (our Recall@1), R-precision and MAP@R."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN

from embedder.evaluation.retrieval import evaluate_retrieval


@pytest.mark.parametrize("same_set", [False, True])
def test_metrics_agree_with_pytorch_metric_learning(same_set: bool) -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(12, 32))
    gallery_labels = rng.integers(0, 12, size=200)
    gallery = centres[gallery_labels] + rng.normal(scale=1.3, size=(200, 32))
    query_labels = gallery_labels if same_set else rng.integers(0, 12, size=150)
    queries = gallery if same_set else centres[query_labels] + rng.normal(scale=1.3, size=(150, 32))
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)

    ours = evaluate_retrieval(queries, query_labels, gallery, gallery_labels, ks=(1,), exclude_self=same_set)
    calculator = AccuracyCalculator(
        include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
        knn_func=CustomKNN(CosineSimilarity()),
        k="max_bin_count",
    )
    theirs = calculator.get_accuracy(
        torch.tensor(queries, dtype=torch.float32),
        torch.tensor(query_labels),
        torch.tensor(gallery, dtype=torch.float32),
        torch.tensor(gallery_labels),
        ref_includes_query=same_set,
    )
    assert 0.2 < ours["recall@1"] < 0.95  # neither trivial nor hopeless, so the check means something
    assert ours["recall@1"] == pytest.approx(theirs["precision_at_1"], abs=1e-6)
    assert ours["map@r"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-6)

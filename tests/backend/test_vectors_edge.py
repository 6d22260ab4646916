"""What only the Qdrant Edge store has to prove.

The shared scenarios, reopening and a second process included, run in test_vectors.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backend.errors import Unavailable
from backend.filters import SearchFilter
from backend.vectors import IndexPoint
from backend.vectors_edge import EdgeVectorStore, average_vector


def test_average_vector_matches_qdrant_strategy() -> None:
    assert average_vector([[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0]]) == [0.0, 0.0]
    assert average_vector([[1.0, 2.0]], []) == [1.0, 2.0]


def test_writes_survive_a_killed_process(tmp_path: Path) -> None:
    folder = tmp_path / "edge"
    script = (
        "import os, numpy as np\n"
        "from backend.vectors import IndexPoint\n"
        "from backend.vectors_edge import EdgeVectorStore\n"
        f"store = EdgeVectorStore.embedded_at(__import__('pathlib').Path({str(folder)!r}))\n"
        "store.ensure_collection('c', 8)\n"
        "points = [IndexPoint(i, np.ones(8, np.float32), {'product_id': i}) for i in range(1, 51)]\n"
        "store.upsert('c', points)\n"
        "os._exit(0)  # no close, no flush at exit\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    reopened = EdgeVectorStore.embedded_at(folder)
    assert reopened.count("c") == 50
    reopened.close()


def test_missing_folder_is_unavailable_only_when_unusable(tmp_path: Path) -> None:
    EdgeVectorStore.embedded_at(tmp_path / "new").check()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(Unavailable):
        EdgeVectorStore.embedded_at(blocker / "edge").check()


def test_small_collections_answer_exactly_even_between_clusters() -> None:
    # Tight clusters and recommend targets between them: where an HNSW walk with the default
    # beam stops short (seen at 3,000 points). Below the exact-search size every answer must
    # equal brute force.
    rng = np.random.default_rng(7)
    dimension, clusters, per_cluster = 1280, 60, 50  # 15 MB: above the size Edge indexes from
    centres = rng.standard_normal((clusters, dimension))
    vectors = np.repeat(centres, per_cluster, axis=0) + 0.05 * rng.standard_normal(
        (clusters * per_cluster, dimension)
    )
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    store = EdgeVectorStore.in_memory()
    store.recommend_ef = None  # Edge's own beam: with HNSW it misses some of these top 10s
    name = store.collection_name("clusters")
    store.ensure_collection(name, dimension)
    store.upsert(
        name,
        [
            IndexPoint(i + 1, vectors[i], {"product_id": i + 1, "category": "Milk", "price": 1.0})
            for i in range(len(vectors))
        ],
    )
    store.optimize(name)
    for _ in range(20):
        picks = rng.integers(0, len(vectors), 3)
        positives, negatives = [vectors[picks[0]], vectors[picks[1]]], [vectors[picks[2]]]
        hits = store.recommend_products(name, positives, negatives, SearchFilter(), 10)
        target = np.asarray(average_vector([v.tolist() for v in positives], [v.tolist() for v in negatives]))
        expected = np.argsort(-(vectors @ target))[:10] + 1
        assert [hit.product_id for hit in hits] == expected.tolist()
    store.close()

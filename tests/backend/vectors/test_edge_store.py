"""What only the Qdrant Edge store has to prove.

The shared scenarios, reopening and a second process included, run in test_vectors.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as edge

from backend.errors import Unavailable
from backend.filters.search_filter import SearchFilter
from backend.vectors import edge_config, edge_store
from backend.vectors.edge_queries import average_vector
from backend.vectors.edge_store import EdgeStore
from backend.vectors.types import IndexPoint, PayloadUpdate


def test_average_vector_matches_qdrant_strategy() -> None:
    assert average_vector([[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0]]) == [0.0, 0.0]
    assert average_vector([[1.0, 2.0]], []) == [1.0, 2.0]


def test_writes_survive_a_killed_process(tmp_path: Path) -> None:
    folder = tmp_path / "edge"
    script = (
        "import os, numpy as np\n"
        "from backend.vectors.types import IndexPoint\n"
        "from backend.vectors.edge_store import EdgeStore\n"
        f"store = EdgeStore.embedded_at(__import__('pathlib').Path({str(folder)!r}))\n"
        "store.ensure_collection('c', 8)\n"
        "points = [IndexPoint(i, np.ones(8, np.float32), {'product_id': i}) for i in range(1, 51)]\n"
        "store.upsert('c', points)\n"
        "os._exit(0)  # no close, no flush at exit\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    reopened = EdgeStore.embedded_at(folder)
    assert reopened.count("c") == 50
    reopened.close()


def test_missing_folder_is_unavailable_only_when_unusable(tmp_path: Path) -> None:
    EdgeStore.embedded_at(tmp_path / "new").check()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(Unavailable):
        EdgeStore.embedded_at(blocker / "edge").check()


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
    store = EdgeStore.in_memory()
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


def graph_segments(shard_folder: Path) -> set[str]:
    """The shard's segments whose vectors have an HNSW graph (Edge notes it in segment.json)."""
    found = set()
    for config in shard_folder.glob("segments/*/segment.json"):
        index = json.loads(config.read_text())["config"]["vector_data"][""]["index"]["type"]
        if index == "hnsw":
            found.add(config.parent.name)
    return found


def test_a_sale_on_a_third_of_the_points_rebuilds_no_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Thresholds scaled down from 20,000 to 1,200 points, so 2,000 small points get a graph.
    monkeypatch.setattr(edge_store, "EXACT_SEARCH_MAX_POINTS", 1200)
    monkeypatch.setattr(edge_config, "UNINDEXED_MAX_POINTS", 1200)
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(2000, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = EdgeStore.embedded_at(tmp_path / "edge")
    name = store.collection_name("sale")
    folder = tmp_path / "edge" / name
    store.ensure_collection(name, 8)
    store.upsert(name, [IndexPoint(i, vectors[i], {"product_id": i, "price": 1.0}) for i in range(2000)])
    store.optimize(name)
    graphs = graph_segments(folder)
    assert graphs, "2,000 points above the scaled threshold should have an HNSW graph"

    # A new price is a write to an indexed field: the points move out of their graph segment.
    on_sale = list(range(0, 2000, 3))  # 667: a third, and fewer than 1,200
    store.update_payloads(name, [PayloadUpdate(on_sale, {"price": 2.0})])
    store.optimize(name)
    assert graph_segments(folder) == graphs  # nothing rebuilt
    hits = store.search_products(name, vectors[0], SearchFilter(price_min=Decimal(2)), 1000)
    assert sorted(hit.product_id for hit in hits) == on_sale
    for i in (0, 1, 2, 1000, 1998, 1999):  # moved or not, each point is still its own nearest
        assert store.search_products(name, vectors[i], SearchFilter(), 1)[0].image_id == i

    # 400 more: 1,067 moved, more than half of the graph though still fewer than 1,200.
    more = list(range(1, 1200, 3))
    store.update_payloads(name, [PayloadUpdate(more, {"price": 3.0})])
    store.optimize(name)
    assert graphs - graph_segments(folder)  # the graph segment was rebuilt
    hits = store.search_products(name, vectors[1], SearchFilter(price_min=Decimal(2)), 2000)
    assert sorted(hit.product_id for hit in hits) == sorted(on_sale + more)
    store.close()


def test_a_collection_made_by_an_earlier_version_gets_the_thresholds_on_open(tmp_path: Path) -> None:
    store = EdgeStore.embedded_at(tmp_path / "edge")
    name = store.collection_name("old")
    folder = tmp_path / "edge" / name
    folder.parent.mkdir(parents=True)
    old = edge.EdgeShard.create(
        str(folder), edge.EdgeConfig(vectors=edge.EdgeVectorParams(size=8, distance=edge.Distance.Cosine))
    )
    old.update(edge.UpdateOperation.upsert_points([edge.Point(1, [1.0] + [0.0] * 7, {"product_id": 1})]))
    old.flush()
    old.close()
    assert store.count(name) == 1
    optimizers = json.loads((folder / "edge_config.json").read_text())["optimizers"]
    assert optimizers["deleted_threshold"] == edge_config.DELETED_THRESHOLD
    assert optimizers["indexing_threshold"] == -(-edge_config.UNINDEXED_MAX_POINTS * 8 * 4 // 1024)
    store.close()
    reopened = EdgeStore.embedded_at(tmp_path / "edge")
    assert reopened.search_products(name, np.eye(8, dtype=np.float32)[0], SearchFilter(), 1)[0].image_id == 1
    reopened.close()

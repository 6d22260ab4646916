"""The Edge vector store against the real Qdrant Edge engine: the scenarios of test_vectors.py."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from backend.errors import Conflict, Unavailable
from backend.filters import SearchFilter
from backend.vectors import IndexPoint
from backend.vectors_edge import EdgeVectorStore, average_vector

DIMENSION = 8


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EdgeVectorStore]:
    if request.param == "memory":
        opened = EdgeVectorStore.in_memory()
    else:
        opened = EdgeVectorStore.embedded_at(tmp_path / "edge")
    yield opened
    opened.close()


def unit(values: list[float]) -> np.ndarray:
    vector = np.zeros(DIMENSION, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def point(point_id: int, product_id: int, vector: list[float], **payload: object) -> IndexPoint:
    base = {
        "product_id": product_id,
        "image_id": point_id,
        "category": "Milk",
        "brand": "Arla",
        "price": 10.0,
    }
    base.update({"in_stock": True, "content_hash": f"h{point_id}", "payload_hash": "p", "model": "m"})
    base.update(payload)
    return IndexPoint(point_id, unit(vector), base)


@pytest.fixture
def collection(store: EdgeVectorStore) -> str:
    name = store.collection_name("test_model")
    store.ensure_collection(name, DIMENSION)
    store.upsert(
        name,
        [
            point(1, 10, [1, 0.1]),
            point(2, 10, [1, 0.2]),  # a second photo of product 10
            point(3, 20, [1, 0.5], category="Juice", price=25.0),
            point(4, 30, [0.2, 1], brand="Oatly", in_stock=False, price=5.0),
            point(5, 40, [0, 1, 1], price=99.0),
        ],
    )
    return name


def test_one_hit_per_product_best_first(store: EdgeVectorStore, collection: str) -> None:
    hits = store.search_products(collection, unit([1, 0.15]), SearchFilter(), 10)
    product_ids = [hit.product_id for hit in hits]
    assert product_ids[:2] == [10, 20]
    assert len(product_ids) == len(set(product_ids)) == 4
    assert hits[0].image_id in (1, 2)
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


def test_grouping_fetches_again_when_one_product_fills_the_page(store: EdgeVectorStore) -> None:
    name = store.collection_name("crowded")
    store.ensure_collection(name, DIMENSION)
    crowd = [point(i, 1, [1, 0.001 * i]) for i in range(1, 40)]  # 39 photos of product 1 first
    store.upsert(name, [*crowd, point(100, 2, [0.5, 1]), point(101, 3, [0, 1])])
    hits = store.search_products(name, unit([1]), SearchFilter(), 3)
    assert [hit.product_id for hit in hits] == [1, 2, 3]


@pytest.mark.parametrize(
    ("search_filter", "expected"),
    [
        (SearchFilter(categories=("Juice",)), {20}),
        (SearchFilter(brands=("Oatly",)), {30}),
        (SearchFilter(price_min=Decimal(6), price_max=Decimal(30)), {10, 20}),
        (SearchFilter(in_stock=False), {30}),
        (SearchFilter(categories=("Milk",), in_stock=True).excluding([10]), {40}),
    ],
)
def test_filters_hold(
    store: EdgeVectorStore, collection: str, search_filter: SearchFilter, expected: set[int]
) -> None:
    hits = store.search_products(collection, unit([1, 1]), search_filter, 10)
    assert {hit.product_id for hit in hits} == expected


def test_recommend_moves_towards_positives_and_away_from_negatives(
    store: EdgeVectorStore, collection: str
) -> None:
    hits = store.recommend_products(collection, [4], [1], SearchFilter().excluding([30]), 2)
    assert hits[0].product_id == 40
    best = store.recommend_products(collection, [4], [1], SearchFilter().excluding([30]), 2, best_score=True)
    assert best[0].product_id == 40


def test_recommend_never_returns_its_examples(store: EdgeVectorStore, collection: str) -> None:
    hits = store.recommend_products(collection, [1], [], SearchFilter(), 10)
    assert 1 not in {hit.image_id for hit in hits}
    assert hits[0].image_id == 2


def test_average_vector_matches_qdrant_strategy() -> None:
    assert average_vector([[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0]]) == [0.0, 0.0]
    assert average_vector([[1.0, 2.0]], []) == [1.0, 2.0]


def test_payload_overwrite_delete_and_states(store: EdgeVectorStore, collection: str) -> None:
    store.overwrite_payloads(
        collection, {3: {"product_id": 20, "category": "Milk", "price": 1.0, "payload_hash": "q"}}
    )
    hits = store.search_products(collection, unit([1, 0.5]), SearchFilter(price_max=Decimal(2)), 10)
    assert [hit.product_id for hit in hits] == [20]
    store.delete(collection, [5])
    states = {state.id: state for state in store.point_states(collection, page_size=2)}
    assert sorted(states) == [1, 2, 3, 4]
    assert states[3].payload_hash == "q"
    assert states[1].content_hash == "h1"
    assert store.count(collection) == 4
    vectors = store.vectors(collection, [1, 99])
    assert list(vectors) == [1]
    assert np.allclose(vectors[1], unit([1, 0.1]), atol=1e-6)


def test_collection_dimension_is_checked(store: EdgeVectorStore, collection: str) -> None:
    store.ensure_collection(collection, DIMENSION)  # idempotent
    with pytest.raises(Conflict, match="8-d"):
        store.ensure_collection(collection, DIMENSION * 2)


def test_alias_names_one_collection_and_moves(store: EdgeVectorStore, collection: str) -> None:
    assert store.alias_target(store.active_alias) is None
    store.point_alias(store.active_alias, collection)
    assert store.alias_target(store.active_alias) == collection
    store.point_alias(store.active_alias, "other")
    assert store.alias_target(store.active_alias) == "other"


def test_optimize_keeps_results(store: EdgeVectorStore, collection: str) -> None:
    before = store.search_products(collection, unit([1, 0.15]), SearchFilter(), 10)
    store.optimize(collection)
    assert store.search_products(collection, unit([1, 0.15]), SearchFilter(), 10) == before


def test_embedded_store_persists_across_reopen(tmp_path: Path) -> None:
    first = EdgeVectorStore.embedded_at(tmp_path / "edge")
    name = first.collection_name("m")
    first.ensure_collection(name, DIMENSION)
    first.upsert(name, [point(1, 10, [1])])
    first.close()
    second = EdgeVectorStore.embedded_at(tmp_path / "edge")
    assert second.has_collection(name)
    assert second.count(name) == 1
    second.ensure_collection(name, DIMENSION)
    assert second.search_products(name, unit([1]), SearchFilter(categories=("Milk",)), 1)[0].image_id == 1
    second.close()


def test_second_process_on_the_embedded_store_gets_unavailable(tmp_path: Path) -> None:
    holder = EdgeVectorStore.embedded_at(tmp_path / "edge")
    name = holder.collection_name("m")
    holder.ensure_collection(name, DIMENSION)
    script = (
        "import sys\n"
        "from backend.errors import Unavailable\n"
        "from backend.vectors_edge import EdgeVectorStore\n"
        "try:\n"
        f"    store = EdgeVectorStore.embedded_at(__import__('pathlib').Path({str(tmp_path / 'edge')!r}))\n"
        "    store.check()\n"
        "except Unavailable as error:\n"
        "    print(error.message); sys.exit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    holder.close()
    assert result.returncode == 3, result.stderr
    assert "another process" in result.stdout


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

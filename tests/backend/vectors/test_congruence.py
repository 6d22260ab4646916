"""The vector store against Qdrant's real engines: embedded (memory, disk) and a server if reachable."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from backend.errors import Conflict, Unavailable
from backend.filters.search_filter import SearchFilter
from backend.vectors.edge_store import EdgeStore
from backend.vectors.qdrant_client_store import QdrantClientStore
from backend.vectors.remote_store import RemoteStore
from backend.vectors.store import VectorIndex
from backend.vectors.types import IndexPoint, PayloadUpdate

DIMENSION = 8


@pytest.fixture(params=["memory", "disk", "server", "edge-memory", "edge-disk", "edge-shared"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorIndex]:
    """Every engine, so each scenario checks that they agree (congruence tests)."""
    opened: VectorIndex
    if request.param == "edge-shared":  # Edge in a store process, called over its socket
        with store_process(tmp_path) as remote:
            yield remote
        return
    if request.param == "edge-memory":
        opened = EdgeStore.in_memory()
    elif request.param == "edge-disk":
        opened = EdgeStore.embedded_at(tmp_path / "edge")
    elif request.param == "memory":
        opened = QdrantClientStore.in_memory()
    elif request.param == "disk":
        opened = QdrantClientStore.embedded_at(tmp_path / "qdrant")
    else:
        url = request.getfixturevalue("production_pair").qdrant_url  # skips, saying why, without one
        opened = QdrantClientStore.remote(url, prefix=f"test_{uuid.uuid4().hex[:8]}")
    yield opened
    opened.close()


@contextmanager
def store_process(data_dir: Path) -> Iterator[RemoteStore]:
    """A real store process (python -m backend.vectors.store_process) owning an Edge folder, and a client."""
    address = str(Path(tempfile.mkdtemp(prefix="vs")) / "store.sock")  # sockets allow ~100 chars
    environment = {
        **os.environ,
        "VITRINE_DATA_DIR": str(data_dir),
        "VITRINE_STORE_ADDRESS": address,
        "VITRINE_STORE_AUTHKEY": "test-secret",
    }
    process = subprocess.Popen([sys.executable, "-m", "backend.vectors.store_process"], env=environment)
    try:
        deadline = time.monotonic() + 60
        while not Path(address).exists():
            assert process.poll() is None, "the store process exited"
            assert time.monotonic() < deadline, "the store process did not open its socket"
            time.sleep(0.05)
        yield RemoteStore(address, b"test-secret", prefix="vitrine")
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0  # closed the store cleanly on SIGTERM


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
    base.update({"in_stock": True, "content_hash": f"h{point_id}", "model": "m"})
    base.update({"name_lower": "arla standard milk", "attributes": {}})
    base.update(payload)
    return IndexPoint(point_id, unit(vector), base)


@pytest.fixture
def collection(store: VectorIndex) -> str:
    name = store.collection_name("test_model")
    store.ensure_collection(name, DIMENSION)
    store.upsert(
        name,
        [
            point(1, 10, [1, 0.1]),
            point(2, 10, [1, 0.2]),  # a second photo of product 10
            point(
                3,
                20,
                [1, 0.5],
                category="Juice",
                price=25.0,
                name_lower="apple juice",
                attributes={"fat": 3, "organic": True},
            ),
            point(4, 30, [0.2, 1], brand="Oatly", in_stock=False, price=5.0, name_lower="oat drink"),
            point(5, 40, [0, 1, 1], price=99.0, attributes={"fat": "3", "organic": False}),
        ],
    )
    return name


def test_one_hit_per_product_best_first(store: VectorIndex, collection: str) -> None:
    hits = store.search_products(collection, unit([1, 0.15]), SearchFilter(), 10)
    product_ids = [hit.product_id for hit in hits]
    assert product_ids[:2] == [10, 20]
    assert len(product_ids) == len(set(product_ids)) == 4
    assert hits[0].image_id in (1, 2)
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


@pytest.mark.parametrize(
    ("search_filter", "expected"),
    [
        (SearchFilter(categories=("Juice",)), {20}),
        (SearchFilter(brands=("Oatly",)), {30}),
        (SearchFilter(price_min=Decimal(6), price_max=Decimal(30)), {10, 20}),
        (SearchFilter(in_stock=False), {30}),
        (SearchFilter(categories=("Milk",), in_stock=True).excluding([10]), {40}),
        # Name and attribute conditions at the store level, where no database re-check hides
        # a translator that matches too much.
        (SearchFilter(name_contains="juice"), {20}),
        (SearchFilter(name_contains="milk"), {10, 40}),
        (SearchFilter(attributes=(("fat", (3,)),)), {20}),
        (SearchFilter(attributes=(("fat", ("3",)),)), {40}),
        (SearchFilter(attributes=(("fat", (3, "3")),)), {20, 40}),
        (SearchFilter(attributes=(("organic", (False,)),)), {40}),
        (SearchFilter(attributes=(("fat", (3,)), ("organic", (True,)))), {20}),
        (SearchFilter(attributes=(("missing", ("x",)),)), set()),
    ],
)
def test_filters_hold(
    store: VectorIndex, collection: str, search_filter: SearchFilter, expected: set[int]
) -> None:
    hits = store.search_products(collection, unit([1, 1]), search_filter, 10)
    assert {hit.product_id for hit in hits} == expected


def test_recommend_moves_towards_positives_and_away_from_negatives(
    store: VectorIndex, collection: str
) -> None:
    hits = store.recommend_products(collection, [4], [1], SearchFilter().excluding([30]), 2)
    assert hits[0].product_id == 40
    best = store.recommend_products(collection, [4], [1], SearchFilter().excluding([30]), 2, best_score=True)
    assert best[0].product_id == 40


def test_payload_updates_delete_and_states(store: VectorIndex, collection: str) -> None:
    store.update_payloads(
        collection,
        [
            PayloadUpdate([3], {"product_id": 20, "category": "Milk", "price": 1.0}, replace=True),
            PayloadUpdate([1, 2], {"price": 3.0, "in_stock": False}),  # merged into the rest
        ],
    )
    hits = store.search_products(collection, unit([1, 0.5]), SearchFilter(price_max=Decimal(2)), 10)
    assert [hit.product_id for hit in hits] == [20]
    store.delete(collection, [5])
    states = {state.id: state for state in store.point_states(collection, page_size=2)}
    assert sorted(states) == [1, 2, 3, 4]
    assert states[3].payload == {"product_id": 20, "category": "Milk", "price": 1.0}
    assert states[3].content_hash is None
    for point_id in (1, 2):
        assert states[point_id].payload == {
            **point(point_id, 10, [1]).payload,
            "price": 3.0,
            "in_stock": False,
        }
    assert (
        states[4].payload
        == point(4, 30, [1], brand="Oatly", in_stock=False, price=5.0, name_lower="oat drink").payload
    )
    assert (states[4].content_hash, states[4].model) == ("h4", "m")
    assert store.count(collection) == 4
    vectors = store.vectors(collection, [1, 99])
    assert list(vectors) == [1]
    assert np.allclose(vectors[1], unit([1, 0.1]), atol=1e-6)


def test_many_payload_updates_each_reach_their_own_point(store: VectorIndex) -> None:
    name = store.collection_name("many")
    store.ensure_collection(name, DIMENSION)
    count = 700
    store.upsert(name, [point(i, i, [1, i / count]) for i in range(1, count + 1)])
    store.update_payloads(
        name, [PayloadUpdate([i], {"price": float(i)}) for i in range(1, count + 1)], durable=False
    )
    store.flush(name)
    states = {state.id: state.payload["price"] for state in store.point_states(name)}
    assert states == {i: float(i) for i in range(1, count + 1)}
    hits = store.search_products(name, unit([1, 0.5]), SearchFilter(price_min=Decimal(690)), 20)
    assert sorted(hit.product_id for hit in hits) == list(range(690, count + 1))


def test_collection_dimension_is_checked(store: VectorIndex, collection: str) -> None:
    store.ensure_collection(collection, DIMENSION)  # idempotent
    with pytest.raises(Conflict, match="8-d"):
        store.ensure_collection(collection, DIMENSION * 2)


def test_grouping_fetches_again_when_one_product_fills_the_page(store: VectorIndex) -> None:
    name = store.collection_name("crowded")
    store.ensure_collection(name, DIMENSION)
    crowd = [point(i, 1, [1, 0.001 * i]) for i in range(1, 40)]  # 39 photos of product 1 first
    store.upsert(name, [*crowd, point(100, 2, [0.5, 1]), point(101, 3, [0, 1])])
    hits = store.search_products(name, unit([1]), SearchFilter(), 3)
    assert [hit.product_id for hit in hits] == [1, 2, 3]


def test_recommend_never_returns_its_examples(store: VectorIndex, collection: str) -> None:
    hits = store.recommend_products(collection, [1], [], SearchFilter(), 10)
    assert 1 not in {hit.image_id for hit in hits}
    assert hits[0].image_id == 2


def test_optimize_keeps_results(store: VectorIndex, collection: str) -> None:
    before = store.search_products(collection, unit([1, 0.15]), SearchFilter(), 10)
    store.optimize(collection)
    assert store.search_products(collection, unit([1, 0.15]), SearchFilter(), 10) == before


def test_alias_names_one_collection_and_moves(store: VectorIndex, collection: str) -> None:
    other = store.collection_name("other")
    store.ensure_collection(other, DIMENSION)
    assert store.alias_target(store.active_alias) is None
    store.point_alias(store.active_alias, collection)
    assert store.alias_target(store.active_alias) == collection
    store.point_alias(store.active_alias, other)
    assert store.alias_target(store.active_alias) == other


# The on-disk embedded engines and their folder names.
ON_DISK = pytest.mark.parametrize(
    ("store_class", "folder"), [(QdrantClientStore, "qdrant"), (EdgeStore, "edge")], ids=["local", "edge"]
)


@ON_DISK
def test_embedded_store_persists_across_reopen(
    store_class: type[QdrantClientStore | EdgeStore], folder: str, tmp_path: Path
) -> None:
    first = store_class.embedded_at(tmp_path / folder)
    name = first.collection_name("m")
    first.ensure_collection(name, DIMENSION)
    first.upsert(name, [point(1, 10, [1])])
    first.close()
    second = store_class.embedded_at(tmp_path / folder)
    assert second.has_collection(name)
    assert second.count(name) == 1
    second.ensure_collection(name, DIMENSION)
    assert second.search_products(name, unit([1]), SearchFilter(categories=("Milk",)), 1)[0].image_id == 1
    second.close()


@ON_DISK
def test_second_process_on_the_embedded_store_gets_unavailable(
    store_class: type[QdrantClientStore | EdgeStore], folder: str, tmp_path: Path
) -> None:
    holder = store_class.embedded_at(tmp_path / folder)
    holder.ensure_collection(holder.collection_name("m"), DIMENSION)
    holder.check()
    name = store_class.__name__
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from backend.errors import Unavailable\n"
        f"from {store_class.__module__} import {name}\n"
        "try:\n"
        f"    {name}.embedded_at(Path({str(tmp_path / folder)!r})).check()\n"
        "except Unavailable as error:\n"
        "    print(error.message); sys.exit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    holder.close()
    assert result.returncode == 3, result.stderr
    assert "another process" in result.stdout


def test_unreachable_server_is_unavailable() -> None:
    store = QdrantClientStore.remote("http://127.0.0.1:9")
    with pytest.raises(Unavailable):
        store.check()


def test_a_filter_that_keeps_a_few_points_loses_nothing(store: VectorIndex) -> None:
    # What this proves is that the filter is applied before the top-k cut, not after it: three
    # matching points in a thousand, none near the query, must all come back in exact order. At
    # this size no engine builds a graph (that path is in test_edge_store.py), so a larger
    # catalog proves nothing more, and qdrant-client's local mode on disk writes slowly.
    rng = np.random.default_rng(7)
    name = store.collection_name("recall")
    store.ensure_collection(name, DIMENSION)
    size = 1000
    vectors = rng.normal(size=(size, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rare = {17, 734, 999}
    store.upsert(
        name,
        [
            IndexPoint(
                i, vectors[i], {"product_id": i, "category": "rare" if i in rare else "common", "price": 1.0}
            )
            for i in range(size)
        ],
    )
    query = vectors[5]
    hits = store.search_products(name, query, SearchFilter(categories=("rare",)), 10)
    exact = sorted(rare, key=lambda i: -float(vectors[i] @ query))
    assert [hit.product_id for hit in hits] == exact
    unfiltered = store.search_products(name, query, SearchFilter(), 10)
    # Far from the query: filtering after the top-k cut would lose every one of them.
    assert not rare & {hit.product_id for hit in unfiltered}


ENGINES_TO_COMPARE = {
    "local-memory": lambda _path: QdrantClientStore.in_memory(),
    "local-disk": lambda path: QdrantClientStore.embedded_at(path / "qdrant"),
    "edge-memory": lambda _path: EdgeStore.in_memory(),
    "edge-disk": lambda path: EdgeStore.embedded_at(path / "edge"),
}


def test_engines_give_the_same_answers_to_the_same_calls(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Every embedded engine (and a Qdrant server, where one runs) answers each call alike."""
    try:
        server_url: str | None = request.getfixturevalue("production_pair").qdrant_url
    except pytest.skip.Exception:  # no Docker and no QDRANT_URL: the embedded engines only
        server_url = None
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(60, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    points = [
        IndexPoint(
            index + 1,
            vectors[index],
            {
                "product_id": 100 + index // 2,  # two photos per product
                "image_id": index + 1,
                "category": ("Milk", "Juice", "Bread")[index % 3],
                "brand": ("Arla", "Oatly")[index % 2],
                "price": float(index % 17),
                "in_stock": index % 4 != 0,
                "name_lower": ("arla milk", "apple juice", "rye bread")[index % 3],
                "attributes": {"fat": index % 3, "organic": index % 5 == 0},
                "content_hash": f"h{index}",
                "model": "m",
            },
        )
        for index in range(len(vectors))
    ]
    filters = [
        SearchFilter(),
        SearchFilter(categories=("Juice", "Bread")),
        SearchFilter(brands=("Oatly",), in_stock=True),
        SearchFilter(price_min=Decimal(3), price_max=Decimal(9)),
        SearchFilter(name_contains="milk"),
        SearchFilter(attributes=(("fat", (1,)), ("organic", (False,)))),
        SearchFilter().excluding([100, 101, 102]),
    ]
    engines = dict(ENGINES_TO_COMPARE)
    if server_url is not None:
        url = server_url
        engines["server"] = lambda _path: QdrantClientStore.remote(url, prefix=f"test_{uuid.uuid4().hex[:8]}")
    answers: dict[str, list[list[tuple[int, int, float]]]] = {}
    for engine, open_engine in engines.items():
        store = open_engine(tmp_path / engine)
        try:
            name = store.collection_name("compare")
            store.ensure_collection(name, DIMENSION)
            store.upsert(name, points)
            calls = [
                store.search_products(name, vectors[query], search_filter, 5)
                for query in (0, 13, 41)
                for search_filter in filters
            ]
            calls.append(store.recommend_products(name, [3, 8], [20], SearchFilter(), 5))
            calls.append(store.recommend_products(name, [3, 8], [20], SearchFilter(), 5, best_score=True))
            calls.append(store.search_products(name, vectors[5], SearchFilter(), 5, score_threshold=0.3))
            answers[engine] = [[(hit.product_id, hit.image_id, hit.score) for hit in hits] for hits in calls]
        finally:
            store.close()
    reference_engine, reference = next(iter(answers.items()))
    assert any(reference), "the scenario found nothing; it would compare nothing"
    for engine, answer in answers.items():
        for number, (expected, got) in enumerate(zip(reference, answer, strict=True)):
            context = f"call {number}: {engine} against {reference_engine}"
            assert [hit[:2] for hit in got] == [hit[:2] for hit in expected], context
            assert [hit[2] for hit in got] == pytest.approx([hit[2] for hit in expected], abs=1e-4), context

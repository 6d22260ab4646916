"""Reading a collection's files ahead (backend/vectors/page_cache.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backend.filters.search_filter import SearchFilter
from backend.vectors import page_cache
from backend.vectors.edge_config import SEGMENTS
from backend.vectors.edge_store import EdgeStore
from backend.vectors.types import IndexPoint


def test_read_through_reads_every_file_once_and_skips_ones_gone(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * (page_cache.CHUNK_BYTES + 3))  # more than one chunk
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b").write_bytes(b"y" * 5)
    files = [tmp_path / "a", tmp_path / "gone", tmp_path / "nested" / "b"]
    assert page_cache.read_through(files) == page_cache.CHUNK_BYTES + 3 + 5


def test_a_folder_is_read_on_a_daemon_thread_unless_it_would_take_too_much_memory(tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(b"z" * 1000)
    thread = page_cache.warm_in_background(tmp_path)
    assert thread is not None and thread.daemon
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert page_cache.warm_in_background(tmp_path, budget_bytes=999) is None
    assert page_cache.warm_in_background(tmp_path, budget_bytes=1000) is not None


def test_the_first_search_of_a_collection_reads_it_ahead_once(tmp_path: Path) -> None:
    store = EdgeStore.embedded_at(tmp_path / "edge")
    try:
        name = store.collection_name("m")
        store.ensure_collection(name, 4)
        store.upsert(name, [IndexPoint(1, np.ones(4, np.float32) / 2, {"product_id": 1})])
        assert store._read_ahead.started == set()
        for _ in range(2):
            store.search_products(name, np.ones(4, np.float32), SearchFilter(), 1)
        assert store._read_ahead.started == {tmp_path / "edge" / name / SEGMENTS}
    finally:
        store.close()


def test_a_check_reads_ahead_the_collection_the_active_alias_names_only(tmp_path: Path) -> None:
    store = EdgeStore.embedded_at(tmp_path / "edge")
    try:
        for model in ("old", "new"):
            store.ensure_collection(store.collection_name(model), 4)
        store.check()
        assert store._read_ahead.started == set()
        store.point_alias(store.active_alias, store.collection_name("new"))
        store.check()
        assert store._read_ahead.started == {tmp_path / "edge" / store.collection_name("new") / SEGMENTS}
    finally:
        store.close()

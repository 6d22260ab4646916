"""Tests for the retrieval tasks' queries and galleries, on generated images."""

from pathlib import Path
from typing import Any

import pytest

from embedder.evaluation.tasks import build_task, stratified_subset


def test_stratified_subset_spreads_over_classes() -> None:
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 2]
    chosen = stratified_subset(labels, 5)
    assert chosen == sorted(chosen) == stratified_subset(labels, 5)
    assert sorted(labels[index] for index in chosen) == [0, 0, 1, 1, 2]
    assert stratified_subset(labels, 50) == list(range(9))


def test_build_task_on_the_grocery_layout(grocery_tree: Path) -> None:
    catalog = build_task(grocery_tree, "catalog", k=3)
    assert (len(catalog.queries), len(catalog.gallery), catalog.exclude_self) == (6, 3, False)
    shop = build_task(grocery_tree, "shop", limit=4, k=5)
    assert (len(shop.queries), len(shop.gallery), shop.query_split) == (4, 6, "test")
    assert len(set(shop.queries.labels)) == 3


@pytest.mark.parametrize(
    ("task", "options", "message"),
    [
        ("nearest", {}, "task must be one of"),
        ("catalog", {"k": 4}, "k must be between 1 and the 3"),
        ("shop", {"queries": "train"}, "val or test"),
        ("catalog", {"limit": 0}, "limit"),
    ],
)
def test_build_task_rejects_bad_options(
    grocery_tree: Path, task: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_task(grocery_tree, task, **options)


def test_grocery_tasks_need_the_grocery_folder(class_folders: Path) -> None:
    with pytest.raises(ValueError, match="Grocery Store"):
        build_task(class_folders, "catalog")
    with pytest.raises(ValueError, match="--queries"):
        build_task(class_folders, "folder", queries="test", k=5)

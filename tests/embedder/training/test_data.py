"""Tests for what a training run reads: the Grocery Store's train and val splits, never its test split."""

from pathlib import Path

import pytest

from embedder.training.data import load_training_data, refuse_test_split


def test_grocery_training_never_reads_the_test_split(grocery_train: Path) -> None:
    dataset = grocery_train.parent
    data = load_training_data(dataset)
    assert data.queries is not None and data.gallery is not None and data.gallery_kind == "iconic images"
    for images in (data.train, data.queries, data.gallery):
        assert not any(path.is_relative_to(dataset / "test") for path in images.paths)
    assert {path.relative_to(dataset).parts[0] for path in data.queries.paths} == {"val"}
    with pytest.raises(RuntimeError, match="test split"):
        refuse_test_split([dataset / "test" / "Fruit" / "photo.jpg"])
    with pytest.raises(RuntimeError, match="test split"):
        load_training_data(grocery_train, dataset / "test")

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


def test_held_out_validation_ranks_held_out_photos_against_each_other(tiny_trees: tuple[Path, Path]) -> None:
    train_tree, val_tree = tiny_trees
    data = load_training_data(train_tree, val_tree, val_mode="held-out")
    assert data.exclude_self and data.gallery_kind == "held-out photos"
    assert data.queries is not None and data.gallery == data.queries
    assert len(data.queries) == 8 and len(data.train) == 16
    with pytest.raises(ValueError, match="needs val_data"):
        load_training_data(train_tree, val_mode="held-out")


def test_held_out_validation_refuses_a_photo_that_is_also_trained_on(
    tiny_trees: tuple[Path, Path], tmp_path: Path
) -> None:
    train_tree, _ = tiny_trees
    trained = sorted(train_tree.rglob("*.jpg"))[0]
    (tmp_path / "val" / "Other").mkdir(parents=True)
    (tmp_path / "val" / "Other" / "copy.jpg").symlink_to(trained)  # another link to the same photo
    with pytest.raises(RuntimeError, match="also training photos"):
        load_training_data(train_tree, tmp_path / "val", val_mode="held-out")

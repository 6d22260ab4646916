"""Fixtures for the training tests: a tiny class-per-folder tree of real grocery photos, one thread."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from embedder.datasets import LabelledImages, grocery_split
from embedder.training.config import TrainConfig

PRODUCTS = ("Granny-Smith", "Banana", "Lime", "Red-Bell-Pepper")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors: more threads only add synchronisation, and cores may be shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def link_photos(root: Path, split: LabelledImages, per_product: int) -> Path:
    """A class-per-folder tree of symlinks to a few photos of each of PRODUCTS (no copies)."""
    for name in PRODUCTS:
        label = split.class_names.index(name)
        photos = [
            path for path, photo_label in zip(split.paths, split.labels, strict=True) if photo_label == label
        ]
        (root / name).mkdir(parents=True)
        for photo in photos[:per_product]:
            (root / name / photo.name).symlink_to(photo)
    return root


@pytest.fixture(scope="module")
def tiny_trees(tmp_path_factory: pytest.TempPathFactory, grocery_train: Path) -> tuple[Path, Path]:
    """4 products x 4 training photos and 4 x 2 validation photos of the grocery data set."""
    dataset = grocery_train.parent
    root = tmp_path_factory.mktemp("tiny")
    train_tree = link_photos(root / "train", grocery_split(dataset, "train"), 4)
    val_tree = link_photos(root / "val", grocery_split(dataset, "val"), 2)
    return train_tree, val_tree


def tiny_config(tiny_trees: tuple[Path, Path], out: Path, **changes: object) -> TrainConfig:
    """A resnet18 from scratch at 32 x 32 pixels: seconds per epoch on a CPU."""
    train_tree, val_tree = tiny_trees
    config = TrainConfig(
        arch="resnet18",
        method="supcon",
        data=train_tree,
        val_data=val_tree,
        out=out,
        epochs=1,
        batch_size=8,
        photos_per_product=2,
        image_size=32,
        from_scratch=True,
        workers=0,
        threads=1,
    )
    return replace(config, **changes)  # type: ignore[arg-type]

"""Tests for the training DataLoaders: augmented views, and P x K batches for SupCon."""

from pathlib import Path

import pytest
import torch

from embedder.registry import plain_weights_preprocessing
from embedder.training.data import load_training_data
from embedder.training.loaders import training_loader
from tests.embedder.training.conftest import tiny_config


@pytest.mark.parametrize("method", ["supervised", "simclr", "supcon"])
def test_loaders_give_augmented_batches(tiny_trees: tuple[Path, Path], method: str) -> None:
    config = tiny_config(tiny_trees, Path("unused"), method=method)
    data = load_training_data(config.data)
    loader = training_loader(config, data.train, plain_weights_preprocessing(config.arch))
    assert len(loader) == 2
    batch = next(iter(loader))
    views, labels = batch[:-1], batch[-1]
    assert len(views) == (1 if method == "supervised" else 2)
    for view in views:
        assert view.shape == (8, 3, 32, 32) and view.dtype == torch.float32
    assert not torch.equal(views[0], views[-1]) or method == "supervised"
    if method == "supcon":
        assert sorted(torch.bincount(labels).tolist()) == [2, 2, 2, 2]

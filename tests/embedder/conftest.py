"""Fixtures for the embedder tests: the grocery photos and loaded models."""

from pathlib import Path

import pytest

from embedder import Embedder, load_embedder


@pytest.fixture(scope="session")
def grocery_train(grocery: Path) -> Path:
    """The training split of the grocery-store data set (read in place, never copied)."""
    return grocery / "train"


@pytest.fixture(scope="session")
def lite0() -> Embedder:
    """The default embedder, loaded once for the whole session."""
    return load_embedder("efficientnet_lite0")

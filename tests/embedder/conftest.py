"""Fixtures for the embedder tests: the grocery photos beside the repository and loaded models."""

from pathlib import Path

import pytest

from embedder import Embedder, load_embedder

GROCERY = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "grocery-store"


@pytest.fixture(scope="session")
def grocery_train() -> Path:
    """The training split of the grocery-store data set (read in place, never copied)."""
    train = GROCERY / "dataset" / "train"
    if not train.is_dir():
        pytest.fail(f"the grocery data set is missing at {GROCERY}", pytrace=False)
    return train


@pytest.fixture(scope="session")
def lite0() -> Embedder:
    """The default embedder, loaded once for the whole session."""
    return load_embedder("efficientnet_lite0")

"""Tests for catalog images as anchors: which images, how they join batches, proxies that start at them."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from embedder import load_embedder
from embedder.checkpoint import load_checkpoint
from embedder.datasets import grocery_iconic, grocery_split
from embedder.images import load_image
from embedder.registry import plain_weights_preprocessing
from embedder.training.augmentations import evaluation_preprocessing
from embedder.training.catalog_anchors import CatalogBatchSampler, catalog_images, start_proxies_at_catalog
from embedder.training.data import load_training_data
from embedder.training.loaders import training_loader
from embedder.training.loop import TrainingRun
from embedder.training.main import train
from embedder.training.product_batch_sampler import ProductBatchSampler
from tests.embedder.training.conftest import PRODUCTS, tiny_config


def mini_grocery(root: Path, dataset: Path, *, iconic_in_test: bool = False) -> Path:
    """A Grocery Store layout of PRODUCTS (links to the real files): classes.csv, train/val/test, iconic."""
    iconic = grocery_iconic(dataset)
    rows = []
    for new_id, name in enumerate(PRODUCTS):
        old_id = iconic.class_names.index(name)
        folder = "test" if iconic_in_test and new_id == 0 else "iconic"
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{name}.jpg").symlink_to(iconic.paths[old_id])
        rows.append([name, new_id, name, new_id, f"/{folder}/{name}.jpg", ""])
    with (root / "classes.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["name", "id", "coarse", "coarse id", "iconic", "description"], *rows])
    for split, count in (("train", 4), ("val", 2), ("test", 1)):
        photos = grocery_split(dataset, split)
        lines = []
        for new_id, name in enumerate(PRODUCTS):
            old_id = photos.class_names.index(name)
            (root / split / name).mkdir(parents=True, exist_ok=True)
            chosen = [
                path for path, label in zip(photos.paths, photos.labels, strict=True) if label == old_id
            ]
            for photo in chosen[:count]:
                (root / split / name / photo.name).symlink_to(photo)
                lines.append(f"{split}/{name}/{photo.name}, {new_id}, {new_id}")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def grocery_copy(tmp_path_factory: pytest.TempPathFactory, grocery_train: Path) -> Path:
    """4 products: 4 train, 2 val and 1 test photo each, and their catalog images."""
    return mini_grocery(tmp_path_factory.mktemp("mini-grocery"), grocery_train.parent)


def test_catalog_images_are_those_of_the_trained_products(
    grocery_copy: Path, grocery_train: Path, tmp_path: Path
) -> None:
    train = grocery_split(grocery_copy, "train")
    catalog = catalog_images(grocery_copy, train)
    assert catalog.labels == [0, 1, 2, 3] and all(path.parent.name == "iconic" for path in catalog.paths)
    # Products without training photos (held out) bring no catalog image either.
    held_out = train.subset([i for i, label in enumerate(train.labels) if label != 2])
    assert catalog_images(grocery_copy, held_out).labels == [0, 1, 3]
    with pytest.raises(RuntimeError, match="test split"):
        catalog_images(mini_grocery(tmp_path / "leaky", grocery_train.parent, iconic_in_test=True), train)
    with pytest.raises(ValueError, match="Grocery Store"):
        catalog_images(tmp_path, train)


def test_each_batch_ends_with_its_products_catalog_images(grocery_copy: Path) -> None:
    train = grocery_split(grocery_copy, "train")
    catalog = catalog_images(grocery_copy, train)
    products = ProductBatchSampler(train.labels, products_per_batch=2, photos_per_product=2, seed=0)
    sampler = CatalogBatchSampler(products, train.labels, catalog, offset=len(train))
    sampler.set_epoch(3)
    products.set_epoch(3)
    assert len(sampler) == len(products) == 4
    for with_catalog, plain in zip(sampler, products, strict=True):
        assert with_catalog[:4] == plain
        labels = [train.labels[index] for index in plain]
        assert with_catalog[4:] == [len(train) + label for label in dict.fromkeys(labels)]


def test_loader_batches_hold_p_times_k_plus_one_images(grocery_copy: Path, tmp_path: Path) -> None:
    config = tiny_config(
        (grocery_copy, grocery_copy), tmp_path, val_data=None, method="multisimilarity", catalog_anchors=True
    )
    data = load_training_data(config.data, limit=None)
    catalog = catalog_images(config.data, data.train)
    loader = training_loader(config, data.train, plain_weights_preprocessing(config.arch), catalog)
    images, labels = next(iter(loader))
    assert images.shape == (12, 3, 32, 32)  # 4 products x (2 photos + their catalog image)
    assert sorted(torch.bincount(labels).tolist()) == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="P x K"):
        supervised = tiny_config((grocery_copy, grocery_copy), tmp_path, val_data=None, method="supervised")
        training_loader(supervised, data.train, plain_weights_preprocessing(config.arch), catalog)


def test_proxies_start_at_the_catalog_embeddings(grocery_copy: Path, tmp_path: Path) -> None:
    config = tiny_config(
        (grocery_copy, grocery_copy), tmp_path, val_data=None, method="proxyanchor", embedding_dim=8
    )
    run = TrainingRun.start(config, class_count=4, steps_per_epoch=1)
    catalog = catalog_images(grocery_copy, grocery_split(grocery_copy, "train"))
    catalog = catalog.subset([3, 1])  # any order: proxies follow the labels
    preprocessing = evaluation_preprocessing(32, plain_weights_preprocessing(config.arch))
    start_proxies_at_catalog(run.embedding_model(), run.loss, catalog, preprocessing, config)
    run.embedding_model().eval()
    with torch.no_grad():
        images = torch.stack([preprocessing.to_tensor(load_image(path)) for path in catalog.paths])
        expected = torch.nn.functional.normalize(run.embedding_model()(images), dim=1)
    assert torch.allclose(run.loss.proxies[[3, 1]], expected, atol=1e-5)
    # The model that embedded them still trains.
    assert all(p.requires_grad for p in run.embedding_head.parameters())


@pytest.mark.parametrize(
    ("method", "embedding_dim", "dimension"), [("proxyanchor", 16, 16), ("multisimilarity", None, 512)]
)
def test_a_run_with_catalog_anchors_saves_a_loadable_embedder(
    grocery_copy: Path, tmp_path: Path, method: str, embedding_dim: int | None, dimension: int
) -> None:
    config = tiny_config(
        (grocery_copy, grocery_copy),
        tmp_path / "run",
        method=method,
        val_data=None,
        catalog_anchors=True,
        embedding_dim=embedding_dim,
    )
    best = train(config)
    checkpoint = load_checkpoint(best)
    assert checkpoint.config["method"] == method and checkpoint.config["catalog_anchors"]
    assert checkpoint.config["catalog_anchors_images"] == 4 and checkpoint.dimension == dimension
    # Validation ranked the val photos against the catalog images, as the catalog task does.
    assert checkpoint.config["validation_gallery"] == "iconic images"
    embedder = load_embedder(str(best))
    assert embedder.info.dimension == dimension
    vectors = embedder.embed_paths(sorted((grocery_copy / "val").rglob("*.jpg"))[:3])
    assert vectors.shape == (3, dimension) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The collection the sync makes is named and sized by the embedder's info: the head's size.
    assert embedder.info.key.endswith(f"__{dimension}")
    if method == "proxyanchor":
        # The server's default backend runs the exported model: the head must be in the export.
        exported = load_embedder(str(best), backend="onnx")
        assert exported.info.dimension == 16
        assert np.allclose(
            exported.embed_paths(sorted((grocery_copy / "val").rglob("*.jpg"))[:3]), vectors, atol=1e-4
        )
        state = torch.load(config.out / "last.pt", weights_only=True)
        assert state["loss"]["loss.proxies"].shape == (4, 16)

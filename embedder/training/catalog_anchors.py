"""Catalog images as anchors: each product's catalog image joins its P x K batches, and proxy-anchor's
proxies start at the catalog images' embeddings.

The hard search is a shop photo against the catalog's own product image (docs/quality.md, the
catalog task), a studio shot unlike any shop photo. Training only on shop photos pulls shop photos
of a product together but never towards its catalog image; with the catalog image in the batch,
the loss compares the two domains directly. A shop has its catalog when it trains, and search ranks
exactly these images, so using them is no leak; the shop photos that are queried (the test split)
are still never read.
"""

import copy
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Sampler

from embedder.datasets import LabelledImages, grocery_iconic, is_grocery_dataset
from embedder.embedding import Embedder, ModelInfo
from embedder.preprocessing import Preprocessing
from embedder.training.config import TrainConfig
from embedder.training.data import refuse_test_split, relabel
from embedder.training.product_batch_sampler import ProductBatchSampler


def catalog_images(data: Path, train: LabelledImages) -> LabelledImages:
    """The catalog image of each product that the training photos show, labelled as they are.

    Products without training photos (held out for validation) keep their catalog images out of
    training too.
    """
    if not is_grocery_dataset(data):
        raise ValueError(
            f"catalog anchors need the Grocery Store dataset/ folder with its catalog images, not {data}"
        )
    catalog = relabel(grocery_iconic(data), train.class_names)
    trained = set(train.labels)
    catalog = catalog.subset([i for i, label in enumerate(catalog.labels) if label in trained])
    refuse_test_split(catalog.paths)
    return catalog


class CatalogBatchSampler(Sampler[list[int]]):
    """P x K batches of training photos, each followed by the catalog images of its P products.

    Indices refer to the training photos followed by the catalog images (a ConcatDataset, the
    catalog's first image at offset); a batch thus holds P x (K + 1) images.
    """

    def __init__(
        self, batches: ProductBatchSampler, labels: Sequence[int], catalog: LabelledImages, offset: int
    ):
        self.batches = batches
        self.labels = list(labels)
        self.catalog_index = {label: offset + position for position, label in enumerate(catalog.labels)}

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches __iter__ yields, as ProductBatchSampler.set_epoch."""
        self.batches.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            products = dict.fromkeys(self.labels[index] for index in batch)  # in batch order, once each
            yield batch + [self.catalog_index[label] for label in products if label in self.catalog_index]


def start_proxies_at_catalog(
    model: nn.Module,
    proxies: nn.Module,
    catalog: LabelledImages,
    preprocessing: Preprocessing,
    config: TrainConfig,
) -> None:
    """Set each product's proxy to its catalog image's embedding by model (the untrained embedder).

    Random proxies first have to travel to where the product's photos are; catalog ones start
    there, and keep the catalog image as the point every shop photo of the product is pulled to.
    """
    set_proxies = getattr(proxies, "set_proxies", None)
    if set_proxies is None:
        raise TypeError(f"{type(proxies).__name__} has no proxies to set")
    info = ModelInfo(config.arch, "training", config.embedding_dimension)
    # A copy, as an Embedder turns its model's gradients off and the model trains on.
    embedder = Embedder(copy.deepcopy(model), preprocessing, info, channels_last=config.channels_last)
    vectors = embedder.embed_paths(catalog.paths, batch_size=config.batch_size)
    set_proxies(torch.tensor(catalog.labels), torch.from_numpy(vectors))

"""torch Datasets and DataLoaders of augmented training photos: one view each (supervised) or two."""

from typing import Any

import torch
from torch.utils.data import BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler, Sampler

from embedder.datasets import LabelledImages
from embedder.images import load_image
from embedder.preprocessing import Preprocessing
from embedder.training.augmentations import (
    Transform,
    catalog_augmentation,
    contrastive_augmentation,
    supervised_augmentation,
)
from embedder.training.catalog_anchors import CatalogBatchSampler
from embedder.training.config import PRODUCT_BATCH_METHODS, TrainConfig
from embedder.training.product_batch_sampler import ProductBatchSampler


class SingleViewDataset(Dataset[tuple[torch.Tensor, int]]):
    """Item i is (transform(photo i) of shape (3, H, W), label i)."""

    def __init__(self, images: LabelledImages, transform: Transform) -> None:
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = load_image(self.images.paths[index])
        return self.transform(image), self.images.labels[index]


class TwoViewDataset(Dataset[tuple[torch.Tensor, torch.Tensor, int]]):
    """Item i is two independent random views (3, H, W) of photo i and its label, as SimCLR takes."""

    def __init__(self, images: LabelledImages, transform: Transform) -> None:
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        # Decode once; the two views differ only in their random augmentation.
        image = load_image(self.images.paths[index])
        return self.transform(image), self.transform(image), self.images.labels[index]


def training_loader(
    config: TrainConfig,
    images: LabelledImages,
    preprocessing: Preprocessing,
    catalog: LabelledImages | None = None,
) -> DataLoader[Any]:
    """Batches of augmented photos: (view_a, view_b, labels) for simclr and supcon, (x, labels) for the
    others; with catalog, each P x K batch ends with its products' catalog images (heavily augmented)."""
    two_views = config.method in ("simclr", "supcon")
    view_dataset = TwoViewDataset if two_views else SingleViewDataset
    augmentation = contrastive_augmentation if two_views else supervised_augmentation
    dataset: SingleViewDataset | TwoViewDataset | ConcatDataset[Any]
    dataset = view_dataset(images, augmentation(config.image_size, preprocessing))
    sampler: Sampler[list[int]]
    if config.method in PRODUCT_BATCH_METHODS:
        k = config.photos_per_product
        sampler = ProductBatchSampler(images.labels, config.batch_size // k, k, seed=config.seed)
        if catalog is not None:
            sampler = CatalogBatchSampler(sampler, images.labels, catalog, offset=len(images))
            catalog_views = view_dataset(catalog, catalog_augmentation(config.image_size, preprocessing))
            dataset = ConcatDataset([dataset, catalog_views])
    elif catalog is not None:
        raise ValueError(f"catalog images join P x K batches only, not {config.method}'s")
    else:
        # BatchNorm needs more than one sample, and equal batches keep the contrastive task fixed.
        generator = torch.Generator().manual_seed(config.seed)
        sampler = BatchSampler(RandomSampler(dataset, generator=generator), config.batch_size, drop_last=True)
    if len(sampler) == 0:
        raise ValueError(f"{len(images)} training photos make no full batch of {config.batch_size}")
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=config.workers,
        worker_init_fn=_single_threaded_worker,
        persistent_workers=False,
    )


def set_loader_epoch(loader: DataLoader[Any], seed: int, epoch: int) -> None:
    """Make the epoch's batches depend only on (seed, epoch), so a resumed run sees the same ones."""
    batch_sampler = loader.batch_sampler
    if isinstance(batch_sampler, ProductBatchSampler | CatalogBatchSampler):
        batch_sampler.set_epoch(epoch)
    elif isinstance(batch_sampler, BatchSampler) and isinstance(batch_sampler.sampler, RandomSampler):
        generator = batch_sampler.sampler.generator
        assert generator is not None
        generator.manual_seed(seed * 1_000_003 + epoch)


def _single_threaded_worker(worker_id: int) -> None:
    """Workers only decode and augment; leave the cores' threads to the model."""
    torch.set_num_threads(1)

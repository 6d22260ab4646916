"""Retrieval tasks: which images are the queries and which the gallery they search.

"catalog" ranks the Grocery Store's 81 iconic catalog images for each shop photo of a split,
"shop" ranks the train split's shop photos for each photo of another split, and "folder" ranks, for
each image of a class-per-folder tree, every other image of the tree.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedder.datasets import LabelledImages, grocery_iconic, grocery_split, image_folder, is_grocery_dataset

TASKS = ("catalog", "shop", "folder")


@dataclass(frozen=True)
class RetrievalTask:
    """Queries and the gallery they search; with exclude_self, query i is gallery item i."""

    name: str
    data: Path
    queries: LabelledImages
    gallery: LabelledImages
    exclude_self: bool
    query_split: str | None
    limit: int | None
    k: int  # the largest rank cut-off reported


def default_task(data: Path) -> str:
    """ "catalog" for the Grocery Store's dataset/ folder, else "folder"."""
    return "catalog" if is_grocery_dataset(data) else "folder"


def build_task(
    data: Path, task: str, *, queries: str | None = None, limit: int | None = None, k: int = 10
) -> RetrievalTask:
    """The queries and gallery of a task on a data folder, the queries cut to limit if given."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    split: str | None = None
    if task == "folder":
        if queries is not None:
            raise ValueError("--queries names a Grocery Store split; the folder task uses every image")
        query_images, gallery = _folder_images(data, limit)
    else:
        split = queries or "test"
        query_images, gallery = _grocery_images(data, task, split, limit)
    exclude_self = task == "folder"
    rankable = len(gallery) - 1 if exclude_self else len(gallery)
    if not 1 <= k <= rankable:
        raise ValueError(f"k must be between 1 and the {rankable} gallery items each query can find, got {k}")
    return RetrievalTask(task, data, query_images, gallery, exclude_self, split, limit, k)


def _folder_images(data: Path, limit: int | None) -> tuple[LabelledImages, LabelledImages]:
    """Queries and gallery of the folder task: the gallery is every image, the chosen queries first."""
    images = image_folder(data)
    chosen = stratified_subset(images.labels, limit) if limit else list(range(len(images)))
    # Queries first in the gallery, so that query i is gallery item i, as exclude_self expects.
    rest = sorted(set(range(len(images))) - set(chosen))
    return images.subset(chosen), images.subset(chosen + rest)


def _grocery_images(
    data: Path, task: str, split: str, limit: int | None
) -> tuple[LabelledImages, LabelledImages]:
    """Queries and gallery of the catalog and shop tasks on the Grocery Store data set."""
    if not is_grocery_dataset(data):
        raise ValueError(
            f"task {task!r} needs the Grocery Store dataset/ folder (with classes.csv), not {data}"
        )
    if task == "shop" and split == "train":
        raise ValueError("the shop task searches the train split, so its queries must come from val or test")
    shop_photos = grocery_split(data, split)
    if limit:
        shop_photos = shop_photos.subset(stratified_subset(shop_photos.labels, limit))
    gallery = grocery_iconic(data) if task == "catalog" else grocery_split(data, "train")
    return shop_photos, gallery


def stratified_subset(labels: Sequence[int], limit: int, *, seed: int = 0) -> list[int]:
    """Indices of up to limit items, spread over the classes as evenly as possible; sorted, seeded."""
    generator = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    classes = sorted(by_class)
    # Shuffled within each class because neighbouring photos are often near-duplicate shots.
    queues = [list(generator.permutation(by_class[classes[i]])) for i in generator.permutation(len(classes))]
    chosen: list[int] = []
    for depth in range(max(map(len, queues), default=0)):
        for queue in queues:
            if depth < len(queue) and len(chosen) < limit:
                chosen.append(int(queue[depth]))
    return sorted(chosen)

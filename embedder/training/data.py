"""What a training run reads: its train photos and validation queries, never the test split."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedder.datasets import LabelledImages, grocery_iconic, grocery_split, image_folder, is_grocery_dataset


@dataclass(frozen=True)
class TrainingData:
    """Training photos, and optionally validation queries with the gallery they are ranked against."""

    train: LabelledImages
    queries: LabelledImages | None
    gallery: LabelledImages | None
    gallery_kind: str  # "iconic images", "training photos" or "none"


def load_training_data(
    data: Path, val_data: Path | None = None, *, limit: int | None = None, seed: int = 0
) -> TrainingData:
    """Read a class-per-folder tree or the Grocery Store data set; its test split is never read.

    For the Grocery Store, training uses the train split and validation queries the val split
    (unless val_data is given), ranked against the iconic catalog images, as a shop's customers'
    photos would be searched against its catalog. For a class-per-folder tree, the val_data photos
    are ranked against the training photos.
    """
    if is_grocery_dataset(data):
        train = grocery_split(data, "train")
        queries = grocery_split(data, "val") if val_data is None else None
        gallery, gallery_kind = grocery_iconic(data), "iconic images"
    else:
        train, queries, gallery, gallery_kind = image_folder(data), None, None, "training photos"
    if limit is not None:
        train = limit_per_class(train, limit, seed)
    if val_data is not None:
        queries = relabel(image_folder(val_data), train.class_names)
    if queries is None:
        return TrainingData(train, None, None, "none")
    if gallery is None:
        gallery = train
    for images in (train, queries, gallery):
        refuse_test_split(images.paths)
    return TrainingData(train, queries, gallery, gallery_kind)


def refuse_test_split(paths: Sequence[Path]) -> None:
    """Raise if any path lies in the test split of a Grocery Store data set: training never reads it."""
    checked: dict[Path, bool] = {}
    for path in paths:
        for folder in path.parents:
            if folder not in checked:
                checked[folder] = is_grocery_dataset(folder) and (folder / "test").is_dir()
            if checked[folder] and path.is_relative_to(folder / "test"):
                raise RuntimeError(f"training must never read the test split, but was given {path}")


def limit_per_class(images: LabelledImages, limit: int, seed: int) -> LabelledImages:
    """At most limit photos of each label, chosen at random (seeded), in their original order."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(images.labels)
    keep: list[int] = []
    for label in np.unique(labels):
        positions = np.flatnonzero(labels == label)
        keep.extend(rng.choice(positions, min(limit, len(positions)), replace=False).tolist())
    return images.subset(sorted(keep))


def relabel(images: LabelledImages, class_names: list[str]) -> LabelledImages:
    """Map labels onto class_names by name, dropping classes that class_names lacks."""
    position = {name: label for label, name in enumerate(class_names)}
    keep = [i for i, label in enumerate(images.labels) if images.class_names[label] in position]
    return LabelledImages(
        [images.paths[i] for i in keep],
        [position[images.class_names[images.labels[i]]] for i in keep],
        class_names,
    )

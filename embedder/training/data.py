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
    gallery_kind: str  # "iconic images", "training photos", "held-out photos" or "none"
    exclude_self: bool = False  # the queries are the gallery's first rows, each left out of its own ranking


def load_training_data(
    data: Path,
    val_data: Path | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
    val_mode: str = "seen",
) -> TrainingData:
    """Read a class-per-folder tree or the Grocery Store data set; its test split is never read.

    For the Grocery Store, training uses the train split and validation queries the val split
    (unless val_data is given), ranked against the iconic catalog images, as a shop's customers'
    photos would be searched against its catalog. For a class-per-folder tree, the val_data photos
    are ranked against the training photos. With val_mode "held-out", val_data holds products
    that training never sees: see held_out_validation.
    """
    if val_mode == "held-out":
        if val_data is None:
            raise ValueError(
                "val_mode 'held-out' needs val_data: a class-per-folder tree of held-out products"
            )
        return held_out_validation(data, val_data, limit=limit, seed=seed)
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


def held_out_validation(data: Path, val_data: Path, *, limit: int | None, seed: int) -> TrainingData:
    """Train on the data tree; validate with every val_data photo as a query against the other
    val_data photos (leave-one-out), so Recall@1 measures products the model was never trained on.

    Queries whose label no other val photo shares have nothing to find and are left out of the
    scores. Raises if a val photo is also a training photo (the same file, through any link).
    """
    train = image_folder(data)
    if limit is not None:
        train = limit_per_class(train, limit, seed)
    held_out = image_folder(val_data)
    for images in (train, held_out):
        refuse_test_split(images.paths)
    refuse_shared_photos(train.paths, held_out.paths)
    return TrainingData(train, held_out, held_out, "held-out photos", exclude_self=True)


def refuse_shared_photos(train: Sequence[Path], validation: Sequence[Path]) -> None:
    """Raise if a validation photo is a training photo: judged photos must never be trained on."""
    trained = {path.resolve() for path in train}
    shared = sorted(str(path) for path in validation if path.resolve() in trained)
    if shared:
        raise RuntimeError(f"validation photos are also training photos: {', '.join(shared[:3])}")


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

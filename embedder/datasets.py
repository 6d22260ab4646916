"""Labelled image lists for training and evaluation: a class-per-folder tree or the Grocery Store set."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


@dataclass(frozen=True)
class LabelledImages:
    """Image paths with integer labels; class_names[label] names each label."""

    paths: list[Path]
    labels: list[int]
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, indices: list[int]) -> LabelledImages:
        """The images at the given positions, same class names."""
        return LabelledImages(
            [self.paths[i] for i in indices], [self.labels[i] for i in indices], self.class_names
        )


def image_folder(root: Path) -> LabelledImages:
    """root/<class name>/<image>: one sub-folder per class, classes in sorted order."""
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir())
    if not classes:
        raise ValueError(f"{root} has no class sub-folders")
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        for path in sorted((root / name).rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                paths.append(path)
                labels.append(label)
    return LabelledImages(paths, labels, classes)


def is_grocery_dataset(root: Path) -> bool:
    """Whether root is the Grocery Store data set's `dataset/` folder."""
    return (root / "classes.csv").is_file() and (root / "train.txt").is_file()


def grocery_class_names(root: Path) -> list[str]:
    """The 81 fine class names, indexed by class id."""
    with (root / "classes.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    names = {int(row[1]): row[0] for row in rows}
    return [names[index] for index in range(len(names))]


def grocery_split(root: Path, split: str) -> LabelledImages:
    """Shop photos of a split (train, val or test) with fine (product) labels."""
    if split not in {"train", "val", "test"}:
        raise ValueError(f"split must be train, val or test, got {split!r}")
    paths: list[Path] = []
    labels: list[int] = []
    for line in (root / f"{split}.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            relative, fine, _coarse = (part.strip() for part in line.split(","))
            paths.append(root / relative)
            labels.append(int(fine))
    return LabelledImages(paths, labels, grocery_class_names(root))


def grocery_iconic(root: Path) -> LabelledImages:
    """The one catalog ("iconic") image of each product, labelled by class id."""
    with (root / "classes.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    rows.sort(key=lambda row: int(row[1]))
    return LabelledImages(
        [root / row[4].lstrip("/") for row in rows],
        [int(row[1]) for row in rows],
        [row[0] for row in rows],
    )

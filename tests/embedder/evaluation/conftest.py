"""Fixtures for the evaluation tests: generated pictures as class folders and a miniature Grocery Store."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COLOURS = {"berry": (200, 30, 60), "leaf": (40, 170, 50), "sky": (40, 90, 220)}


def write_picture(path: Path, colour: tuple[int, int, int], seed: int) -> Path:
    """A small noisy picture of one colour, with a pale square placed by the seed."""
    generator = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + generator.normal(0, 20, (48, 64, 3)), 0, 255).astype(np.uint8)
    top, left = generator.integers(0, 24, size=2)
    pixels[top : top + 16, left : left + 16] = 235
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def class_folders(tmp_path: Path) -> Path:
    """root/<class>/<image>.png: three classes of three generated pictures."""
    root = tmp_path / "folders"
    for number, (name, colour) in enumerate(COLOURS.items()):
        for index in range(3):
            write_picture(root / name / f"{index}.png", colour, seed=10 * number + index)
    return root


@pytest.fixture
def grocery_tree(tmp_path: Path) -> Path:
    """A miniature Grocery Store dataset/ folder: three products, two train and two test photos each."""
    root = tmp_path / "dataset"
    classes = [
        "Class Name (str),Class ID (int),Coarse Class Name (str),Coarse Class ID (int),Iconic,Description"
    ]
    splits: dict[str, list[str]] = {"train": [], "test": [], "val": []}
    for label, (name, colour) in enumerate(COLOURS.items()):
        iconic = f"iconic-images-and-descriptions/{name}/{name}_Iconic.png"
        write_picture(root / iconic, colour, seed=100 + label)
        classes.append(f"{name},{label},Colour,0,/{iconic},/{name}.txt")
        for split in ("train", "test"):
            for index in range(2):
                relative = f"{split}/{name}/{name}_{index}.png"
                write_picture(root / relative, colour, seed=1000 * label + 10 * index + len(split))
                splits[split].append(f"{relative}, {label}, 0")
    (root / "classes.csv").write_text("\n".join(classes) + "\n", encoding="utf-8")
    for split, lines in splits.items():
        (root / f"{split}.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return root

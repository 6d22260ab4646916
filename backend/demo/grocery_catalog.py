"""A catalog file made from the Grocery Store data set (Klasson et al., WACV 2019).

Each fine class becomes a product (its iconic catalog photo plus some shop photos from the
train split); the coarse class is the category. The data set has no prices or stock, so
those are derived from the class id: deterministic, and spread enough to test filters.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UNBRANDED_DEPARTMENTS = {"Fruit", "Vegetables"}


@dataclass(frozen=True)
class GroceryClass:
    class_id: int
    name: str
    category: str
    department: str
    iconic: str
    description: str


def read_classes(dataset: Path) -> list[GroceryClass]:
    """The 81 products of classes.csv."""
    with (dataset / "classes.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    classes = []
    for name, class_id, coarse, _coarse_id, iconic, description in rows:
        classes.append(
            GroceryClass(
                class_id=int(class_id),
                name=name,
                category=coarse,
                department=iconic.strip("/").split("/")[1],
                iconic=iconic.lstrip("/"),
                description=description.lstrip("/"),
            )
        )
    return classes


def read_split(dataset: Path, split: str) -> dict[int, list[str]]:
    """Photo paths of a split (train, val, test) grouped by fine class id."""
    photos: dict[int, list[str]] = defaultdict(list)
    for line in (dataset / f"{split}.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            path, fine, _coarse = (part.strip() for part in line.split(","))
            photos[int(fine)].append(path)
    return dict(photos)


def product_record(item: GroceryClass, images: list[str], dataset: Path) -> dict[str, Any]:
    """One catalog row for a class."""
    description_file = dataset / item.description
    description = (
        description_file.read_text(encoding="utf-8", errors="replace").strip()
        if description_file.is_file()
        else ""
    )
    brand = "" if item.department in UNBRANDED_DEPARTMENTS else item.name.split("-")[0]
    return {
        "sku": f"GS-{item.class_id:02d}",
        "name": item.name.replace("-", " "),
        "description": description[:2000],
        "category": item.category,
        "brand": brand,
        "price": round(5 + (item.class_id * 37) % 60 + 0.95, 2),
        "currency": "SEK",
        "in_stock": item.class_id % 7 != 0,
        "attributes": {"department": item.department},
        "images": images,
    }


def write_grocery_catalog(
    dataset: Path,
    output: Path,
    *,
    shop_photos: int = 3,
    class_ids: list[int] | None = None,
) -> Path:
    """Write a JSON-lines catalog whose image paths are relative to the data set folder."""
    train = read_split(dataset, "train")
    lines = []
    for item in read_classes(dataset):
        if class_ids is not None and item.class_id not in class_ids:
            continue
        images = [item.iconic, *train.get(item.class_id, [])[:shop_photos]]
        lines.append(json.dumps(product_record(item, images, dataset)) + "\n")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("".join(lines), encoding="utf-8")
    return output

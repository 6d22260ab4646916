"""The catalog as training data: its photos labelled by product (or a coarser field), split into
training and held-out validation products, written as class-per-folder trees of symlinks.

The split is by product, so a validation product has no photo in training, whatever the label:
- only products with at least two photos can be held out (a lone photo has nothing to find);
- the held-out products are the n with the lowest SHA-256 of "<seed>:<sku>", n being
  round(val_fraction x products), at least one when val_fraction > 0. The same seed and catalog
  give the same split, and adding products moves few others across;
- a photo whose content is also a held-out product's photo (the same bytes under two products)
  is withheld from training too.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.orm import Session

from backend.catalog.queries import IndexedImage, iter_indexed_images

# Product fields a coarser label may come from; "attr.<name>" takes a catalog attribute.
LABEL_FIELDS = ("product", "category", "brand")
ATTRIBUTE_PREFIX = "attr."
# Folder names stay short and portable whatever a label holds; labels.json keeps the real values.
UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


class TrainingPhoto(NamedTuple):
    """One catalog photo as training data."""

    image_id: int
    product_id: int
    sku: str
    label: str
    content_hash: str
    path: Path


@dataclass(frozen=True)
class CatalogSplit:
    """Training and validation photos, split by product."""

    train: list[TrainingPhoto]
    validation: list[TrainingPhoto]
    validation_skus: list[str]
    products: int
    single_photo_products: int  # never held out
    withheld_duplicates: int  # training photos dropped because a held-out product has the same bytes

    def summary(self) -> dict[str, object]:
        """What split.json records beside the checkpoint."""
        return {
            "products": self.products,
            "train_products": len({photo.product_id for photo in self.train}),
            "validation_products": len(self.validation_skus),
            "train_photos": len(self.train),
            "validation_photos": len(self.validation),
            "train_labels": len({photo.label for photo in self.train}),
            "single_photo_products": self.single_photo_products,
            "withheld_duplicate_photos": self.withheld_duplicates,
            "validation_skus": self.validation_skus,
        }


def check_label_field(field: str) -> str:
    """The field itself if products can be labelled by it, else ValueError."""
    if field in LABEL_FIELDS or (field.startswith(ATTRIBUTE_PREFIX) and len(field) > len(ATTRIBUTE_PREFIX)):
        return field
    raise ValueError(f"label field must be one of {', '.join(LABEL_FIELDS)} or attr.<name>, got {field!r}")


def label_of(row: IndexedImage, field: str) -> str | None:
    """A photo's label: its product's SKU, category, brand or attribute; None if it has none."""
    if field == "product":
        return row.sku
    if field.startswith(ATTRIBUTE_PREFIX):
        value = row.attributes.get(field.removeprefix(ATTRIBUTE_PREFIX))
        # As JSON, so that 3 and "3", or true and 1, stay different labels.
        return None if value is None or value == "" else json.dumps(value, ensure_ascii=False)
    value = getattr(row, field)
    return value if isinstance(value, str) and value else None


def catalog_photos(session: Session, image_dir: Path, label_field: str) -> tuple[list[TrainingPhoto], int]:
    """Every catalog photo with a label and a file in the image store; and how many were skipped."""
    check_label_field(label_field)
    photos: list[TrainingPhoto] = []
    skipped = 0
    root = image_dir.resolve()
    for row in iter_indexed_images(session):
        label = label_of(row, label_field)
        path = root / row.storage_key
        if label is None or not path.is_file():
            skipped += 1
            continue
        photos.append(TrainingPhoto(row.image_id, row.product_id, row.sku, label, row.content_hash, path))
    return photos, skipped


def held_out_rank(sku: str, seed: int) -> str:
    """The order in which products are held out: seeded, and independent of the other products."""
    return hashlib.sha256(f"{seed}:{sku}".encode()).hexdigest()


def split_by_product(photos: Sequence[TrainingPhoto], val_fraction: float, seed: int) -> CatalogSplit:
    """Hold out round(val_fraction x products) products with two or more photos (module docstring)."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be at least 0 and below 1, got {val_fraction}")
    by_product: dict[int, list[TrainingPhoto]] = {}
    for photo in photos:
        by_product.setdefault(photo.product_id, []).append(photo)
    eligible = sorted(
        (product_photos[0].sku for product_photos in by_product.values() if len(product_photos) >= 2),
        key=lambda sku: held_out_rank(sku, seed),
    )
    wanted = round(val_fraction * len(by_product))
    if val_fraction > 0:
        wanted = max(wanted, 1)
        if not eligible:
            raise ValueError("no product has two photos, so none can be held out for validation")
    held_out = set(eligible[: min(wanted, len(eligible))])
    validation = [photo for photo in photos if photo.sku in held_out]
    held_out_content = {photo.content_hash for photo in validation}
    train = [photo for photo in photos if photo.sku not in held_out]
    kept = [photo for photo in train if photo.content_hash not in held_out_content]
    if not kept:
        raise ValueError("no photos are left to train on")
    return CatalogSplit(
        train=kept,
        validation=validation,
        validation_skus=sorted(held_out),
        products=len(by_product),
        single_photo_products=len(by_product) - len(eligible),
        withheld_duplicates=len(train) - len(kept),
    )


def write_class_tree(photos: Iterable[TrainingPhoto], root: Path) -> Path:
    """root/<label folder>/<image id><suffix>: a symlink per photo into the image store (no copies).

    Replaces whatever root held: it is derived data. root/labels.json maps folders to labels.
    """
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    folders: dict[str, str] = {}
    for photo in photos:
        folder = folders.setdefault(photo.label, label_folder(len(folders), photo.label))
        (root / folder).mkdir(exist_ok=True)
        (root / folder / f"{photo.image_id}{photo.path.suffix}").symlink_to(photo.path)
    labels = {folder: label for label, folder in folders.items()}
    (root / "labels.json").write_text(
        json.dumps(labels, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return root


def label_folder(index: int, label: str) -> str:
    """A unique, portable folder name for a label."""
    return f"{index:05d}-{UNSAFE_NAME_CHARACTERS.sub('_', label)[:60]}"

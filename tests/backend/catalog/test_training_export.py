"""The catalog as training data: labels, the split by product, and the trees of symlinks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.catalog.training_export import (
    TrainingPhoto,
    catalog_photos,
    split_by_product,
    write_class_tree,
)
from backend.wiring import Services
from embedder.datasets import image_folder
from tests.pictures import picture_bytes


def photos_of(photo_counts: list[int]) -> list[TrainingPhoto]:
    """Product i has photo_counts[i] photos, each with content of its own."""
    photos = []
    for product, count in enumerate(photo_counts):
        for _ in range(count):
            image_id = len(photos) + 1
            photos.append(
                TrainingPhoto(
                    image_id, product, f"SKU-{product}", f"SKU-{product}", f"h{image_id}", Path("x")
                )
            )
    return photos


def test_the_split_is_by_product_and_never_trains_on_a_held_out_photo() -> None:
    photos = photos_of([3, 2, 1, 4, 2, 1, 2, 3, 2, 5])
    split = split_by_product(photos, 0.3, seed=0)
    assert len(split.validation_skus) == 3  # round(0.3 x 10 products)
    held_out = set(split.validation_skus)
    assert {photo.sku for photo in split.validation} == held_out
    assert not held_out & {photo.sku for photo in split.train}
    assert len(split.train) + len(split.validation) == len(photos)
    # Products with one photo (1 and 5 here: indexes 2 and 5) cannot be validation queries.
    assert not held_out & {"SKU-2", "SKU-5"} and split.single_photo_products == 2


def test_the_split_is_deterministic_and_seeded() -> None:
    photos = photos_of([2] * 40)
    first = split_by_product(photos, 0.2, seed=0)
    assert split_by_product(list(reversed(photos)), 0.2, seed=0).validation_skus == first.validation_skus
    assert split_by_product(photos, 0.2, seed=1).validation_skus != first.validation_skus
    # A product added to the catalog moves at most one other product across.
    grown = split_by_product(photos_of([2] * 41), 0.2, seed=0)
    assert len(set(first.validation_skus) - set(grown.validation_skus)) <= 1


def test_a_photo_shared_with_a_held_out_product_is_withheld_from_training() -> None:
    photos = photos_of([2] * 10)
    held_out = split_by_product(photos, 0.1, seed=0).validation[0]
    other = next(photo for photo in photos if photo.sku != held_out.sku)
    copied = other._replace(image_id=99, content_hash=held_out.content_hash)
    split = split_by_product([*photos, copied], 0.1, seed=0)
    assert split.withheld_duplicates == 1
    assert held_out.content_hash not in {photo.content_hash for photo in split.train}


def test_the_split_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="two photos"):
        split_by_product(photos_of([1, 1, 1]), 0.2, seed=0)
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_product(photos_of([2, 2]), 1.0, seed=0)
    assert split_by_product(photos_of([2, 2]), 0.0, seed=0).validation == []


def add_product(services: Services, sku: str, category: str, colours: list[tuple[int, int, int]]) -> None:
    product = services.catalog.create(
        {
            "sku": sku,
            "name": sku,
            "category": category,
            "price": 1,
            "currency": "EUR",
            "attributes": {"fat": 3},
        }
    )
    for mark, colour in enumerate(colours):
        services.catalog.add_image(product.id, picture_bytes(colour, mark=mark), f"{mark}.jpg")


def test_catalog_photos_are_labelled_by_product_or_a_field_and_linked_not_copied(
    services: Services, tmp_path: Path
) -> None:
    add_product(services, "A-1", "apple", [(200, 0, 0), (190, 10, 0)])
    add_product(services, "A-2", "apple", [(0, 200, 0)])
    add_product(services, "B-1", "banana", [(200, 200, 0), (210, 190, 0), (220, 180, 0)])
    with services.sessions() as session:
        by_product, skipped = catalog_photos(session, services.settings.image_dir, "product")
        by_category, _ = catalog_photos(session, services.settings.image_dir, "category")
        by_attribute, _ = catalog_photos(session, services.settings.image_dir, "attr.fat")
        with pytest.raises(ValueError, match="label field"):
            catalog_photos(session, services.settings.image_dir, "price")
    assert skipped == 0 and len(by_product) == 6
    assert [photo.label for photo in by_product] == ["A-1", "A-1", "A-2", "B-1", "B-1", "B-1"]
    assert [photo.label for photo in by_category] == ["apple"] * 3 + ["banana"] * 3
    assert {photo.label for photo in by_attribute} == {"3"}

    tree = write_class_tree(by_category, tmp_path / "tree")
    images = image_folder(tree)
    assert json.loads((tree / "labels.json").read_text()) == {
        "00000-apple": "apple",
        "00001-banana": "banana",
    }
    assert images.class_names == ["00000-apple", "00001-banana"] and images.labels == [0, 0, 0, 1, 1, 1]
    image_store = services.settings.image_dir.resolve()
    assert all(path.is_symlink() and path.resolve().is_relative_to(image_store) for path in images.paths)
    write_class_tree(by_product[:1], tmp_path / "tree")  # rewritten, not added to
    assert len(image_folder(tree)) == 1

"""Catalog data functions against SQLite and PostgreSQL."""

from decimal import Decimal

import pytest

from backend.catalog import queries as catalog
from backend.catalog.database import transaction
from backend.catalog.validation import parse_product
from backend.errors import Conflict, NotFound
from backend.filters.fields import point_payload
from backend.wiring import Services
from tests.pictures import picture_bytes


def new_product(services: Services, sku: str = "SKU-1", **overrides: object) -> int:
    data = {"sku": sku, "name": "Oat milk", "category": "Milk", "price": 2, "currency": "SEK"}
    with transaction(services.sessions) as session:
        return catalog.create_product(session, parse_product({**data, **overrides})).id


def test_create_read_update_delete(services: Services) -> None:
    product_id = new_product(services, brand="Oatly", attributes={"volume_ml": 1000})
    with services.sessions() as session:
        product = catalog.get_product(session, product_id)
        assert (product.brand, product.price, product.attributes) == (
            "Oatly",
            Decimal("2.00"),
            {"volume_ml": 1000},
        )
    with transaction(services.sessions) as session:
        product = catalog.get_product(session, product_id)
        catalog.update_product(
            session, product, parse_product({"price": "3.25", "in_stock": False}, partial=True)
        )
    with services.sessions() as session:
        product = catalog.get_product(session, product_id)
        assert (product.price, product.in_stock) == (Decimal("3.25"), False)
    with transaction(services.sessions) as session:
        catalog.delete_product(session, catalog.get_product(session, product_id))
    with services.sessions() as session, pytest.raises(NotFound):
        catalog.get_product(session, product_id)


def test_duplicate_sku_is_a_conflict_and_writes_nothing(services: Services) -> None:
    new_product(services)
    with pytest.raises(Conflict, match="SKU-1"):
        new_product(services)
    with services.sessions() as session:
        assert catalog.list_products(session)[1] == 1


def test_images_are_kept_once_per_content_and_deleted_with_the_product(services: Services) -> None:
    product_id = new_product(services)
    red = services.images.put(picture_bytes((200, 0, 0)), name="red.jpg")
    blue = services.images.put(picture_bytes((0, 0, 200)), name="blue.jpg")
    with transaction(services.sessions) as session:
        product = catalog.get_product(session, product_id)
        first = catalog.add_image(session, product, red, original_name="red.jpg")
        again = catalog.add_image(session, product, red, original_name="red-again.jpg")
        catalog.add_image(session, product, blue)
        assert first.id == again.id
    with services.sessions() as session:
        rows = list(catalog.iter_indexed_images(session))
        assert [row.content_hash for row in rows] == [red.content_hash, blue.content_hash]
        assert list(catalog.iter_indexed_images(session, page_size=1)) == rows  # read page by page
        assert point_payload(rows[0], "m")["price"] == 2.0
    with transaction(services.sessions) as session:
        catalog.delete_product(session, catalog.get_product(session, product_id))
    with services.sessions() as session:
        assert list(catalog.iter_indexed_images(session)) == []


def test_require_products_names_every_missing_id(services: Services) -> None:
    product_id = new_product(services)
    with services.sessions() as session, pytest.raises(NotFound, match="998, 999"):
        catalog.require_products(session, [product_id, 998, 999])


def test_require_image_ids_lists_a_product_without_images_and_names_every_missing_id(
    services: Services,
) -> None:
    with_photo, without = new_product(services), new_product(services, "SKU-2")
    red = services.images.put(picture_bytes((200, 0, 0)), name="red.jpg")
    with transaction(services.sessions) as session:
        image_id = catalog.add_image(session, catalog.get_product(session, with_photo), red).id
    with services.sessions() as session:
        assert catalog.require_image_ids(session, [without, with_photo]) == {
            without: [],
            with_photo: [image_id],
        }
        with pytest.raises(NotFound, match="998, 999") as raised:
            catalog.require_image_ids(session, [with_photo, 998, 999])
    assert raised.value.details == {"product_ids": [998, 999]}


def test_image_owners_answers_for_existing_images_only(services: Services) -> None:
    product_id = new_product(services, in_stock=False)
    red = services.images.put(picture_bytes((200, 0, 0)), name="red.jpg")
    with transaction(services.sessions) as session:
        image_id = catalog.add_image(session, catalog.get_product(session, product_id), red).id
    with services.sessions() as session:
        owners = catalog.image_owners(session, [image_id, image_id + 1])
    assert list(owners) == [image_id]
    owner = owners[image_id]
    assert (owner.product_id, owner.category, owner.price, owner.in_stock) == (
        product_id,
        "Milk",
        Decimal(2),
        False,
    )

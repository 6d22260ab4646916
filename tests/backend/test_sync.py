"""Sync keeps the index equal to the catalog: idempotent, payload-only updates, deletes, reuse."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from backend import catalog
from backend.catalog_import import import_catalog
from backend.database import transaction
from backend.filters import SearchFilter
from backend.product_data import parse_product
from backend.sample_catalog import write_sample_catalog
from backend.services import Services
from tests.pictures import picture_bytes


@pytest.fixture
def synced(services: Services, tmp_path: Path) -> Services:
    catalog_file = write_sample_catalog(tmp_path / "sample")
    import_catalog(services.sessions, services.images, catalog_file, tmp_path / "sample" / "images")
    report = services.sync.run()
    assert (report.embedded, report.deleted, report.failed) == (48, 0, [])
    return services


def product_id(services: Services, sku: str) -> int:
    with services.sessions() as session:
        found = catalog.find_product_by_sku(session, sku)
        assert found is not None
        return found.id


def test_second_sync_does_nothing(synced: Services) -> None:
    report = synced.sync.run()
    assert not report.changed
    assert report.unchanged == 48
    assert synced.store.count(synced.search.collection()) == 48


def test_price_change_updates_payload_without_embedding(synced: Services) -> None:
    target = product_id(synced, "CIR-RED")
    with transaction(synced.sessions) as session:
        product = catalog.get_product(session, target)
        catalog.update_product(session, product, parse_product({"price": "999.00"}, partial=True))
    report = synced.sync.run()
    assert (report.embedded, report.reused, report.payload_updated) == (0, 0, 2)
    vector = next(iter(synced.store.vectors(synced.search.collection(), [1]).values()))
    hits = synced.store.search_products(
        synced.search.collection(), vector, SearchFilter(price_min=Decimal(900)), 10
    )
    assert [hit.product_id for hit in hits] == [target]


def test_deleted_product_leaves_the_index(synced: Services) -> None:
    target = product_id(synced, "SQU-BLU")
    with transaction(synced.sessions) as session:
        catalog.delete_product(session, catalog.get_product(session, target))
    report = synced.sync.run()
    assert report.deleted == 2
    states = list(synced.store.point_states(synced.search.collection()))
    assert len(states) == 46
    probe = synced.store.vectors(synced.search.collection(), [states[0].id])[states[0].id]
    hits = synced.store.search_products(synced.search.collection(), probe, SearchFilter(), 100)
    assert target not in {hit.product_id for hit in hits}


def test_identical_image_bytes_are_not_embedded_twice(synced: Services) -> None:
    source = catalog_image_bytes(synced, "TRI-GRE")
    target = product_id(synced, "STA-PUR")
    synced.catalog.add_image(target, source, "copy.jpg")
    report = synced.sync.run()
    assert (report.embedded, report.reused) == (0, 1)


def test_a_missing_image_file_is_reported_and_the_rest_synced(synced: Services) -> None:
    target = product_id(synced, "CIR-YEL")
    added = synced.catalog.add_image(target, picture_bytes((1, 2, 3), mark=7), "new.jpg")
    synced.images.path(added.storage_key).unlink()
    other = synced.catalog.add_image(target, picture_bytes((9, 8, 7), mark=3), "other.jpg")
    report = synced.sync.run()
    assert report.embedded == 1
    assert [failure["image_id"] for failure in report.failed] == [added.id]
    assert other.id in synced.store.vectors(synced.search.collection(), [other.id])


def catalog_image_bytes(services: Services, sku: str) -> bytes:
    with services.sessions() as session:
        product = catalog.find_product_by_sku(session, sku)
        assert product is not None
        return services.images.path(product.images[0].storage_key).read_bytes()

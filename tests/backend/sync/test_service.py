"""Sync keeps the index equal to the catalog: idempotent, payload-only updates, deletes, reuse."""

from __future__ import annotations

import io
import os
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.catalog import queries as catalog
from backend.catalog.database import transaction
from backend.catalog.queries import IndexedImage
from backend.catalog.validation import parse_product
from backend.demo.sample_catalog import write_sample_catalog
from backend.filters.fields import point_payload
from backend.filters.search_filter import SearchFilter
from backend.json_values import same_json
from backend.sync import plan as sync_plan
from backend.sync.plan import plan_sync
from backend.vectors.types import PayloadUpdate, PointState
from backend.wiring import Services
from embedder.pipeline import embed_files
from tests.pictures import picture_bytes


@pytest.fixture
def synced(services: Services, tmp_path: Path) -> Services:
    catalog_file = write_sample_catalog(tmp_path / "sample")
    services.catalog.import_file(catalog_file, tmp_path / "sample" / "images")
    report = services.sync.run()
    assert (report.embedded, report.deleted, report.failed) == (48, 0, [])
    return services


def product_id(services: Services, sku: str) -> int:
    with services.sessions() as session:
        found = catalog.find_product_by_sku(session, sku)
        assert found is not None
        return found.id


def image_ids(services: Services, product: int) -> list[int]:
    with services.sessions() as session:
        return catalog.image_ids_by_product(session, [product])[product]


def assert_index_equals_catalog(services: Services) -> None:
    """Every point's payload is exactly what the catalog says, field by field and type by type."""
    collection = services.search.collection()
    model_key = services.models.get().info.key
    stored = {state.id: state.payload for state in services.store.point_states(collection)}
    with services.sessions() as session:
        wanted = {
            item.image_id: point_payload(item, model_key) for item in catalog.iter_indexed_images(session)
        }
    assert stored.keys() == wanted.keys()
    for image_id, payload in wanted.items():
        assert same_json(stored[image_id], payload), (image_id, stored[image_id], payload)


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
    plan = synced.sync.check()
    # Both photos get the one changed field, in one operation.
    assert [(sorted(update.point_ids), update.fields, update.replace) for update in plan.to_update] == [
        (image_ids(synced, target), {"price": 999.0}, False)
    ]
    report = synced.sync.run()
    assert (report.embedded, report.reused, report.payload_updated) == (0, 0, 2)
    assert_index_equals_catalog(synced)
    vector = next(iter(synced.store.vectors(synced.search.collection(), [1]).values()))
    hits = synced.store.search_products(
        synced.search.collection(), vector, SearchFilter(price_min=Decimal(900)), 10
    )
    assert [hit.product_id for hit in hits] == [target]


def test_stock_and_attribute_changes_reach_every_photo_exactly(synced: Services) -> None:
    with synced.sessions() as session:
        products, _total = catalog.list_products(session)
        red, blue = [product.id for product in products if product.in_stock][:2]
    with transaction(synced.sessions) as session:
        for target in (red, blue):
            product = catalog.get_product(session, target)
            catalog.update_product(session, product, parse_product({"in_stock": False}, partial=True))
    plan = synced.sync.check()
    # The same new stock flag for four photos of two products: one operation.
    assert [(sorted(update.point_ids), update.fields) for update in plan.to_update] == [
        (sorted(image_ids(synced, red) + image_ids(synced, blue)), {"in_stock": False})
    ]
    synced.sync.run()
    assert_index_equals_catalog(synced)
    for organic in (True, 1):  # 1 == True in Python, not in JSON or in a Qdrant filter
        with transaction(synced.sessions) as session:
            product = catalog.get_product(session, blue)
            product.attributes = {**product.attributes, "organic": organic}
        assert synced.sync.check().drift()["stale_payloads"] == 2, organic
        assert synced.sync.run().payload_updated == 2
        assert_index_equals_catalog(synced)
    assert synced.sync.check().drift()["stale_payloads"] == 0


def test_numbers_at_the_limits_of_what_the_index_keeps_converge(synced: Services) -> None:
    target = product_id(synced, "CIR-RED")
    limits = {"largest": 2**63 - 1, "smallest": -(2**63), "huge": 1e300, "u64": 1e19, "tiny": 5e-324}
    with transaction(synced.sessions) as session:
        product = catalog.get_product(session, target)
        catalog.update_product(session, product, parse_product({"attributes": limits}, partial=True))
    assert synced.sync.run().payload_updated == 2
    assert_index_equals_catalog(synced)
    assert not synced.sync.run().changed  # read back as written: nothing stale


def test_fields_an_older_version_wrote_are_removed(synced: Services) -> None:
    collection = synced.search.collection()
    synced.store.update_payloads(collection, [PayloadUpdate([1, 2], {"payload_hash": "0123abcd"})])
    plan = synced.sync.check()
    assert sorted((update.point_ids, update.replace) for update in plan.to_update) == [
        ([1], True),
        ([2], True),
    ]
    assert synced.sync.run().payload_updated == 2
    assert_index_equals_catalog(synced)


def test_plan_hands_over_every_update_once_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_plan, "PAYLOAD_CHUNK", 3)
    images = [
        IndexedImage(
            i, f"h{i}", "key", 100 + i // 2, "SKU", "Name", "Milk", "Arla", Decimal(i), "SEK", True, {}
        )
        for i in range(1, 12)
    ]
    states = {item.image_id: PointState(item.image_id, point_payload(item, "m")) for item in images}
    for point_id in states.keys() - {5}:  # every point but one has a stale price
        states[point_id].payload["price"] = -1.0
    chunks: list[list[PayloadUpdate]] = []
    plan = plan_sync(iter(images), states, "m", chunks.append)
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]  # at most PAYLOAD_CHUNK operations each
    assert [update for chunk in chunks for update in chunk] == plan.to_update
    updated = sorted(point_id for update in plan.to_update for point_id in update.point_ids)
    assert updated == [i for i in range(1, 12) if i != 5]
    assert all(update.fields == {"price": float(update.point_ids[0])} for update in plan.to_update)
    assert (plan.unchanged, plan.stale_points, plan.to_embed, plan.to_delete) == (1, 10, [], [])


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


def test_new_images_with_the_same_bytes_are_embedded_once(synced: Services) -> None:
    picture = picture_bytes((40, 90, 160), mark=5)
    first, second = product_id(synced, "CIR-YEL"), product_id(synced, "STA-PUR")
    added = [synced.catalog.add_image(product, picture, f"{product}.jpg") for product in (first, second)]
    report = synced.sync.run()
    assert (report.embedded, report.reused, report.failed) == (1, 1, [])
    vectors = synced.store.vectors(synced.search.collection(), [image.id for image in added])
    assert np.array_equal(vectors[added[0].id], vectors[added[1].id])


def test_sync_embeds_through_the_batch_pipeline(synced: Services) -> None:
    # A photo big enough for draft decoding: the pipeline's vector differs from a full decode's.
    noise = np.random.default_rng(3).integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    big = Image.fromarray(noise)
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG", quality=90)
    target = product_id(synced, "CIR-YEL")
    added = synced.catalog.add_image(target, buffer.getvalue(), "big.jpg")
    report = synced.sync.run()
    assert report.embedded == 1
    embedder = synced.models.get()
    path = synced.images.path(added.storage_key)
    stored = synced.store.vectors(synced.search.collection(), [added.id])[added.id]
    drafted, full = embed_files(embedder, [path])[0], embedder.embed_paths([path])[0]
    assert not np.allclose(drafted, full, atol=1e-5)  # the photo tells the two paths apart
    assert np.allclose(stored, drafted, atol=1e-5)


def test_sync_collects_image_files_no_row_needs_after_the_grace_period(synced: Services) -> None:
    target = product_id(synced, "CIR-YEL")
    with synced.sessions() as session:
        product = catalog.get_product(session, target)
        own = [synced.images.path(image.storage_key) for image in product.images]
    kept_new = synced.images.path(
        synced.images.put(picture_bytes((3, 3, 3), mark=2), name="new.jpg").storage_key
    )
    with transaction(synced.sessions) as session:
        catalog.delete_product(session, catalog.get_product(session, target))
    every_file = [path for path in synced.images.root.rglob("*") if path.is_file()]
    hours_ago = time.time() - 2 * 3600
    for path in every_file:
        if path != kept_new:
            os.utime(path, (hours_ago, hours_ago))
    report = synced.sync.run()
    assert report.files_removed == len(own)
    assert not any(path.exists() for path in own)
    assert kept_new.exists()  # unreferenced but recent: a write may be about to reference it
    with synced.sessions() as session:
        assert all(synced.images.path(key).exists() for key in catalog.storage_keys(session))
    assert synced.sync.run().files_removed == 0

"""Changing the model: a new collection is built beside the live one, then search switches at once."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from backend.catalog import live_collections
from backend.filters.search_filter import SearchFilter
from backend.search.service import Page
from backend.wiring import Services
from tests.pictures import picture_bytes


def write_resnet18_weights(path: Path) -> str:
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return f"resnet18:{path}"


def add_products(services: Services) -> None:
    for index, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        product = services.catalog.create(
            {
                "sku": f"P-{index}",
                "name": f"Thing {index}",
                "category": "things",
                "price": 1,
                "currency": "EUR",
            }
        )
        services.catalog.add_image(product.id, picture_bytes(colour, size=96), "a.jpg")
        services.catalog.add_image(product.id, picture_bytes(colour, size=96, mark=40), "b.jpg")


def test_new_model_is_built_beside_the_live_one_then_switched(services: Services, tmp_path: Path) -> None:
    add_products(services)
    first = services.sync.run()
    assert first.active and first.embedded == 6
    old_collection = services.search.collection()
    assert old_collection.endswith("__1280")

    spec = write_resnet18_weights(tmp_path / "resnet18.pth")
    built = services.sync.run(model_spec=spec, activate=False)
    assert (built.embedded, built.active) == (6, False)
    assert built.collection != old_collection
    assert services.search.collection() == old_collection  # still serving the old model
    query = services.images.decode(picture_bytes((200, 30, 30), size=96, mark=9), name="q.jpg")
    assert services.search.search_by_image(query, SearchFilter(), Page(limit=3)).matches

    switched = services.sync.run(model_spec=spec)
    assert (switched.embedded, switched.active) == (0, True)
    assert services.search.collection() == built.collection
    assert services.store.alias_target(services.store.active_alias) == built.collection
    _collection, embedder = services.search.active()
    assert embedder.info.dimension == 512
    results = services.search.search_by_image(query, SearchFilter(), Page(limit=3))
    assert len(results.matches) == 3

    # A plain sync now maintains the new live collection; the old one is kept for rollback.
    assert not services.sync.run().changed
    with services.sessions() as session:
        states = {index.collection: index.state for index in live_collections.list_indexes(session)}
    assert states == {old_collection: "retired", built.collection: "active"}
    assert services.store.has_collection(old_collection)

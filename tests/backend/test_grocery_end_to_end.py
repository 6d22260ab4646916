"""End to end on real shop photos: import a slice of the Grocery Store data set, sync, search.

The catalog is a product per class (its iconic image plus three train-split shop photos);
queries are test-split photos the index has never seen. PostgreSQL and Qdrant's embedded
engine on disk, through the HTTP API.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.app import create_app
from backend.catalog.database import upgrade_schema
from backend.demo.grocery_catalog import read_classes, read_split, write_grocery_catalog
from backend.model_provider import ModelProvider
from backend.settings import Settings
from backend.wiring import build_services
from tests.backend.conftest import ADMIN_TOKEN
from tests.conftest import create_postgres_database, drop_postgres_database

PRODUCTS = [
    "Banana",
    "Lemon",
    "Granny-Smith",
    "Watermelon",
    "Pineapple",
    "Arla-Standard-Milk",
    "Oatly-Oat-Milk",
    "Tropicana-Apple-Juice",
    "Cucumber",
    "Red-Bell-Pepper",
    "Carrots",
    "Yoggi-Strawberry-Yoghurt",
]


@pytest.fixture(scope="module")
def grocery_client(
    grocery: Path, models: ModelProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FlaskClient, dict[str, int]]]:
    folder = tmp_path_factory.mktemp("grocery")
    class_ids = {item.name: item.class_id for item in read_classes(grocery) if item.name in PRODUCTS}
    catalog_file = write_grocery_catalog(
        grocery, folder / "catalog.jsonl", class_ids=list(class_ids.values())
    )
    url = create_postgres_database()
    upgrade_schema(url)
    settings = Settings(data_dir=folder / "data", database_url=url, admin_token=ADMIN_TOKEN)
    services = build_services(settings, models=models)
    report = services.catalog.import_file(catalog_file, grocery)
    assert report.created == len(PRODUCTS)
    client = create_app(services=services).test_client()
    synced = client.post("/admin/sync", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json
    assert synced["embedded"] + synced["reused"] == 4 * len(PRODUCTS), synced  # type: ignore[index]
    yield client, class_ids
    services.close()
    drop_postgres_database(url)


def held_out_photo(grocery: Path, class_id: int) -> bytes:
    return (grocery / read_split(grocery, "test")[class_id][0]).read_bytes()


def search(client: FlaskClient, photo: bytes, **fields: str) -> list[dict[str, Any]]:
    response = client.post(
        "/search",
        data={"image": (io.BytesIO(photo), "query.jpg"), **fields},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    results: list[dict[str, Any]] = response.json["results"]  # type: ignore[index]
    return results


def test_held_out_shop_photos_find_their_product(
    grocery: Path, grocery_client: tuple[FlaskClient, dict[str, int]]
) -> None:
    client, class_ids = grocery_client
    ranks = {}
    for name, class_id in class_ids.items():
        skus = [
            item["product"]["sku"] for item in search(client, held_out_photo(grocery, class_id), limit="5")
        ]
        assert len(skus) == len(set(skus)) == 5
        ranks[name] = skus.index(f"GS-{class_id:02d}") + 1 if f"GS-{class_id:02d}" in skus else None
    found_first = sum(1 for rank in ranks.values() if rank == 1)
    found_top5 = sum(1 for rank in ranks.values() if rank is not None)
    assert found_top5 >= len(PRODUCTS) - 1, ranks
    assert found_first >= len(PRODUCTS) // 2, ranks


def test_filters_hold_on_every_result(
    grocery: Path, grocery_client: tuple[FlaskClient, dict[str, int]]
) -> None:
    client, class_ids = grocery_client
    photo = held_out_photo(grocery, class_ids["Banana"])
    by_category = search(client, photo, category="Milk,Juice", limit="10")
    assert by_category
    assert {item["product"]["category"] for item in by_category} <= {"Milk", "Juice"}
    priced = search(client, photo, price_min="20", price_max="45", in_stock="true", limit="10")
    assert priced
    assert all(20 <= item["product"]["price"] <= 45 and item["product"]["in_stock"] for item in priced)
    branded = search(client, photo, brand="Arla", limit="10")
    assert [item["product"]["brand"] for item in branded] == ["Arla"]


def test_similar_products_of_a_juice_are_drinks(grocery_client: tuple[FlaskClient, dict[str, int]]) -> None:
    client, class_ids = grocery_client
    products = client.get("/products?limit=100").json["products"]  # type: ignore[index]
    juice = next(p for p in products if p["sku"] == f"GS-{class_ids['Tropicana-Apple-Juice']:02d}")
    response = client.get(f"/products/{juice['id']}/similar?limit=3")
    assert response.status_code == 200
    similar = response.json["results"]  # type: ignore[index]
    assert juice["id"] not in [item["product"]["id"] for item in similar]
    assert similar[0]["product"]["attributes"]["department"] == "Packages"

"""Hybrid search features: attribute and name filters, pages, score threshold, facets,
recommendations from photos and from a browsing session."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from backend.app import create_app
from backend.catalog import queries as catalog
from backend.catalog.database import create_database_engine
from backend.demo.sample_catalog import write_query_photo, write_sample_catalog
from backend.errors import Conflict
from backend.filters.search_filter import SearchFilter
from backend.model_provider import ModelProvider
from backend.search.service import Page
from backend.settings import Settings
from backend.vectors.edge_store import EdgeStore
from backend.wiring import build_services
from tests.backend.conftest import ADMIN_TOKEN


@pytest.fixture(scope="module")
def synced_sample(
    migrated_postgres: str, models: ModelProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FlaskClient, dict[str, int]]]:
    """The 24-product sample catalog on PostgreSQL, synced once for the module (tests only read)."""
    folder = tmp_path_factory.mktemp("features")
    engine = create_database_engine(migrated_postgres)
    with engine.begin() as connection:
        connection.execute(
            text("TRUNCATE products, product_images, search_indexes, sync_status RESTART IDENTITY CASCADE")
        )
    engine.dispose()
    settings = Settings(data_dir=folder / "data", database_url=migrated_postgres, admin_token=ADMIN_TOKEN)
    services = build_services(settings, models=models)
    catalog_file = write_sample_catalog(folder / "sample")
    services.catalog.import_file(catalog_file, folder / "sample" / "images")
    services.sync.run()
    with services.sessions() as session:
        products, _total = catalog.list_products(session, limit=100)
    yield create_app(services=services).test_client(), {product.sku: product.id for product in products}
    services.close()


@pytest.fixture
def client(synced_sample: tuple[FlaskClient, dict[str, int]]) -> FlaskClient:
    return synced_sample[0]


@pytest.fixture
def sample(synced_sample: tuple[FlaskClient, dict[str, int]]) -> dict[str, int]:
    return synced_sample[1]


def search(client: FlaskClient, photo: Path, **fields: str) -> dict[str, Any]:
    data = {"image": (io.BytesIO(photo.read_bytes()), photo.name), **fields}
    response = client.post("/search", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def skus(body: dict[str, Any]) -> list[str]:
    return [item["product"]["sku"] for item in body["results"]]


def test_attribute_and_name_filters(client: FlaskClient, sample: dict[str, int], tmp_path: Path) -> None:
    photo = write_query_photo(tmp_path, "STA-RED")
    red = search(client, photo, **{"attr.colour": "red", "limit": "10"})
    assert sorted(skus(red)) == ["CIR-RED", "SQU-RED", "STA-RED", "TRI-RED"]
    named = search(client, photo, name="TRIANGLE", limit="10")
    assert skus(named) and all(sku.startswith("TRI-") for sku in skus(named))
    assert len(skus(named)) == 6
    none = search(client, photo, **{"attr.colour": "teal"})
    assert none["results"] == []


def test_pages_are_stable_without_duplicates_or_gaps(
    client: FlaskClient, sample: dict[str, int], tmp_path: Path
) -> None:
    photo = write_query_photo(tmp_path, "CIR-BLU")
    whole = skus(search(client, photo, limit="24"))
    assert len(whole) == len(set(whole)) == 24
    pages, offset = [], 0
    while offset is not None:
        body = search(client, photo, limit="5", offset=str(offset))
        pages.extend(skus(body))
        offset = body["next_offset"]
    assert pages == whole


def test_score_threshold_cuts_the_tail(client: FlaskClient, sample: dict[str, int], tmp_path: Path) -> None:
    photo = write_query_photo(tmp_path, "CIR-BLU")
    everything = search(client, photo, limit="24")["results"]
    cut = everything[5]["score"]
    kept = search(client, photo, limit="24", min_score=str(cut))["results"]
    assert all(item["score"] >= cut for item in kept)
    assert 5 <= len(kept) < 24


def test_facets_count_products_that_pass_the_filter(
    client: FlaskClient, sample: dict[str, int], tmp_path: Path
) -> None:
    body = search(client, write_query_photo(tmp_path, "STA-RED"), facets="category,brand", in_stock="true")
    assert sum(body["facets"]["category"].values()) == 19  # 24 products, every fifth sold out
    assert set(body["facets"]["category"]) == {"circle", "square", "triangle", "star"}
    assert sum(body["facets"]["brand"].values()) == 19
    narrowed = search(
        client, write_query_photo(tmp_path, "STA-RED"), facets="category", **{"attr.colour": "red"}
    )
    assert narrowed["facets"] == {"category": {"circle": 1, "square": 1, "triangle": 1, "star": 1}}
    bad = client.post(
        "/search",
        data={"image": (io.BytesIO(b"x"), "x.jpg"), "facets": "price"},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400


def test_recommendations_from_an_uploaded_photo_and_from_a_session(
    client: FlaskClient, sample: dict[str, int], tmp_path: Path
) -> None:
    photo = write_query_photo(tmp_path, "SQU-YEL")
    response = client.post(
        "/recommendations",
        data={
            "request": json.dumps({"filters": {"category": "square"}, "limit": 3}),
            "positive_image": (io.BytesIO(photo.read_bytes()), photo.name),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    assert skus(response.json)[0] == "SQU-YEL"  # type: ignore[arg-type]
    viewed = [sample["TRI-GRE"], sample["TRI-BLU"], sample["CIR-RED"]]
    response = client.post("/recommendations/session", json={"viewed": viewed, "limit": 5})
    assert response.status_code == 200, response.json
    got = skus(response.json)  # type: ignore[arg-type]
    assert not {"TRI-GRE", "TRI-BLU", "CIR-RED"} & set(got)
    assert got[0].startswith("TRI-")  # the newest views weigh most
    assert client.post("/recommendations/session", json={"viewed": []}).status_code == 400
    assert client.post("/recommendations/session", json={"viewed": [99999]}).status_code == 404


def test_paging_limits_are_validated(client: FlaskClient, sample: dict[str, int], tmp_path: Path) -> None:
    photo = write_query_photo(tmp_path, "STA-RED")
    for fields, needle in [
        ({"offset": "-1"}, "offset"),
        ({"offset": "995", "limit": "10"}, "at most 1000"),
        ({"min_score": "2"}, "min_score"),
    ]:
        data = {"image": (io.BytesIO(photo.read_bytes()), "q.jpg"), **fields}
        response = client.post("/search", data=data, content_type="multipart/form-data")
        assert response.status_code == 400
        assert needle in response.json["error"]["message"]  # type: ignore[index]


class CountingEdgeStore(EdgeStore):
    """The real Edge store, counting how often it is asked whether a collection exists."""

    asked = 0

    def has_collection(self, name: str) -> bool:
        self.asked += 1
        return super().has_collection(name)


def test_an_embedded_collection_found_once_is_not_asked_about_again(
    settings: Settings, models: ModelProvider, tmp_path: Path
) -> None:
    store = CountingEdgeStore.embedded_at(settings.data_dir / "edge")
    services = build_services(settings, store=store, models=models)
    try:
        catalog_file = write_sample_catalog(tmp_path / "sample")
        services.catalog.import_file(catalog_file, tmp_path / "sample" / "images")
        for _ in range(2):  # nothing indexed yet: asked each time, never remembered
            with pytest.raises(Conflict):
                services.search.similar_products(1, SearchFilter(), Page(limit=3))
        assert store.asked == 2
        services.sync.run()
        store.asked = 0
        for _ in range(3):
            assert len(services.search.similar_products(1, SearchFilter(), Page(limit=3)).matches) == 3
        assert store.asked == 1
    finally:
        services.close()

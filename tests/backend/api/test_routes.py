"""The HTTP API: admin catalog changes, search endpoints, and the error contract."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from backend.app import create_app
from backend.model_provider import ModelProvider
from backend.settings import Settings
from backend.wiring import Services, build_services
from tests.pictures import picture_bytes

PRODUCT = {"sku": "MUG-1", "name": "Red mug", "category": "mugs", "price": 12.5, "currency": "EUR"}


def upload(data: bytes, name: str = "photo.jpg", **fields: Any) -> dict[str, Any]:
    return {"image": (io.BytesIO(data), name), **fields}


def create(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post("/admin/products", json={**PRODUCT, **overrides}, headers=headers)
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def add_photo(client: FlaskClient, headers: dict[str, str], product_id: int, data: bytes) -> int:
    response = client.post(
        f"/admin/products/{product_id}/images",
        data=upload(data),
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    image_id: int = response.json["id"]  # type: ignore[index]
    return image_id


@pytest.fixture
def catalog_of_three(client: FlaskClient, admin_headers: dict[str, str]) -> dict[str, int]:
    """Red mug, dark-red mug (cheap, sold out), blue plate; synced."""
    ids = {
        "red": create(client, admin_headers)["id"],
        "dark": create(client, admin_headers, sku="MUG-2", price=3, in_stock=False)["id"],
        "blue": create(client, admin_headers, sku="PLATE-1", category="plates", brand="Acme")["id"],
    }
    add_photo(client, admin_headers, ids["red"], picture_bytes((220, 20, 20), size=128))
    add_photo(client, admin_headers, ids["red"], picture_bytes((210, 30, 30), size=128, mark=9))
    add_photo(client, admin_headers, ids["dark"], picture_bytes((150, 10, 10), size=128))
    add_photo(client, admin_headers, ids["blue"], picture_bytes((20, 20, 220), size=128))
    response = client.post("/admin/sync", headers=admin_headers)
    assert response.status_code == 200
    assert response.json["embedded"] == 4  # type: ignore[index]
    return ids


def error_of(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


def test_search_by_image_returns_one_entry_per_product_with_db_fields(
    client: FlaskClient, catalog_of_three: dict[str, int]
) -> None:
    response = client.post(
        "/search",
        data=upload(picture_bytes((215, 25, 25), size=128, mark=3)),
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    results = response.json["results"]  # type: ignore[index]
    ids = [item["product"]["id"] for item in results]
    assert ids[0] == catalog_of_three["red"]
    assert len(ids) == len(set(ids)) == 3
    assert results[0]["product"]["price"] == 12.5
    assert results[0]["matched_image_id"] in [image["id"] for image in results[0]["product"]["images"]]


def test_search_filters_hold_on_every_result(client: FlaskClient, catalog_of_three: dict[str, int]) -> None:
    photo = picture_bytes((215, 25, 25), size=128)
    cases = [
        ({"category": "plates"}, {catalog_of_three["blue"]}),
        ({"price_max": "5"}, {catalog_of_three["dark"]}),
        ({"price_min": "10", "in_stock": "true"}, {catalog_of_three["red"], catalog_of_three["blue"]}),
        ({"brand": "Acme,Other"}, {catalog_of_three["blue"]}),
    ]
    for fields, expected in cases:
        response = client.post("/search", data=upload(photo, **fields), content_type="multipart/form-data")
        assert response.status_code == 200, response.json
        assert {item["product"]["id"] for item in response.json["results"]} == expected, fields  # type: ignore[index]


def test_similar_excludes_the_product_and_applies_filters(
    client: FlaskClient, catalog_of_three: dict[str, int]
) -> None:
    response = client.get(f"/products/{catalog_of_three['red']}/similar")
    ids = [item["product"]["id"] for item in response.json["results"]]  # type: ignore[index]
    assert ids[0] == catalog_of_three["dark"]
    assert catalog_of_three["red"] not in ids
    response = client.get(f"/products/{catalog_of_three['red']}/similar?in_stock=true")
    assert [item["product"]["id"] for item in response.json["results"]] == [catalog_of_three["blue"]]  # type: ignore[index]


def test_recommendations_from_positive_and_negative(
    client: FlaskClient, catalog_of_three: dict[str, int]
) -> None:
    body = {"positive": [catalog_of_three["red"]], "negative": [catalog_of_three["blue"]], "limit": 5}
    response = client.post("/recommendations", json=body)
    assert response.status_code == 200, response.json
    assert [item["product"]["id"] for item in response.json["results"]] == [catalog_of_three["dark"]]  # type: ignore[index]
    response = client.post(
        "/recommendations", json={**body, "negative": [], "filters": {"category": ["plates"]}}
    )
    assert [item["product"]["id"] for item in response.json["results"]] == [catalog_of_three["blue"]]  # type: ignore[index]


def test_price_change_reaches_search_after_sync(
    client: FlaskClient, admin_headers: dict[str, str], catalog_of_three: dict[str, int]
) -> None:
    red = catalog_of_three["red"]
    assert client.patch(f"/admin/products/{red}", json={"price": 1}, headers=admin_headers).status_code == 200
    report = client.post("/admin/sync", headers=admin_headers).json
    assert (report["embedded"], report["payload_updated"]) == (0, 2)  # type: ignore[index]
    photo = upload(picture_bytes((215, 25, 25), size=128), price_max="2")
    response = client.post("/search", data=photo, content_type="multipart/form-data")
    assert [item["product"]["id"] for item in response.json["results"]] == [red]  # type: ignore[index]


def test_deleted_product_disappears_from_results(
    client: FlaskClient, admin_headers: dict[str, str], catalog_of_three: dict[str, int]
) -> None:
    red = catalog_of_three["red"]
    assert client.delete(f"/admin/products/{red}", headers=admin_headers).status_code == 204
    photo = upload(picture_bytes((215, 25, 25), size=128))
    before_sync = client.post("/search", data=photo, content_type="multipart/form-data").json
    assert red not in [item["product"]["id"] for item in before_sync["results"]]  # type: ignore[index]
    assert client.post("/admin/sync", headers=admin_headers).json["deleted"] == 2  # type: ignore[index]
    assert client.get(f"/products/{red}").status_code == 404


def test_product_read_and_image_bytes(client: FlaskClient, catalog_of_three: dict[str, int]) -> None:
    product = client.get(f"/products/{catalog_of_three['red']}").json
    assert product["sku"] == "MUG-1"  # type: ignore[index]
    image = client.get(product["images"][0]["url"])  # type: ignore[index]
    assert image.status_code == 200
    assert image.data[:2] == b"\xff\xd8"
    image.close()
    listing = client.get("/products?limit=2").json
    assert (listing["total"], len(listing["products"])) == (3, 2)  # type: ignore[index]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "needle"),
    [
        ("post", "/search", {"data": upload(b"this is not an image", "notes.txt")}, 400, "notes.txt"),
        ("post", "/search", {"data": {"limit": "3"}}, 400, "missing file field 'image'"),
        (
            "post",
            "/search",
            {"data": upload(picture_bytes((1, 2, 3)), colour="red")},
            400,
            "unknown filter field 'colour'",
        ),
        (
            "post",
            "/search",
            {"data": upload(picture_bytes((1, 2, 3)), price_min="9", price_max="1")},
            400,
            "price_min",
        ),
        ("post", "/search", {"data": upload(picture_bytes((1, 2, 3)), limit="0")}, 400, "limit"),
        ("post", "/search", {"data": upload(picture_bytes((1, 2, 3)), limit="1000")}, 400, "limit"),
        ("get", "/products/999999/similar", {}, 404, "999999"),
        ("get", "/products/1/similar?colour=red", {}, 400, "colour"),
        (
            "post",
            "/recommendations",
            {"data": "{bad json", "content_type": "application/json"},
            400,
            "malformed JSON",
        ),
        ("post", "/recommendations", {"data": "x", "content_type": "text/plain"}, 415, "JSON"),
        ("post", "/recommendations", {"json": {"positive": [999999]}}, 404, "999999"),
        (
            "post",
            "/recommendations",
            {"json": {"positive": ["a"]}},
            400,
            "positive.0: Input should be a valid integer",
        ),
        ("post", "/recommendations", {"json": {"positive": [1], "filters": {"size": 1}}}, 400, "size"),
        ("get", "/no/such/route", {}, 404, "not found"),
    ],
)
def test_bad_input_gets_a_json_4xx(
    client: FlaskClient, method: str, path: str, kwargs: dict[str, Any], status: int, needle: str
) -> None:
    if "data" in kwargs and isinstance(kwargs["data"], dict):
        # Fresh file objects each run: a parametrised BytesIO is consumed by its first use.
        data = {
            key: (io.BytesIO(value[0].getvalue()), value[1]) if isinstance(value, tuple) else value
            for key, value in kwargs["data"].items()
        }
        kwargs = {**kwargs, "data": data, "content_type": "multipart/form-data"}
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert needle.lower() in error_of(response)["message"].lower()


def test_oversized_upload_is_413(client: FlaskClient, services: Services) -> None:
    client.application.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post(
        "/search",
        data=upload(picture_bytes((1, 2, 3), size=512, fmt="PNG") + b"\0" * 2000),
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "1000 bytes" in error_of(response)["message"]


def test_admin_needs_the_token_and_bad_admin_input_writes_nothing(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    assert client.post("/admin/products", json=PRODUCT).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/admin/sync", headers=wrong).status_code == 401
    response = client.post(
        "/admin/products", json={**PRODUCT, "price": -1, "colour": "red"}, headers=admin_headers
    )
    assert response.status_code == 400
    assert set(error_of(response)["details"]["fields"]) == {"price", "colour"}
    product = create(client, admin_headers)
    assert client.post("/admin/products", json=PRODUCT, headers=admin_headers).status_code == 409
    response = client.post(
        f"/admin/products/{product['id']}/images",
        data=upload(b"GIF89a-but-not-really"),
        headers=admin_headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert client.get(f"/products/{product['id']}").json["images"] == []  # type: ignore[index]
    assert client.get("/products").json["total"] == 1  # type: ignore[index]


def test_search_before_any_sync_says_what_to_do(client: FlaskClient) -> None:
    response = client.post(
        "/search", data=upload(picture_bytes((1, 2, 3))), content_type="multipart/form-data"
    )
    assert response.status_code == 409
    assert "run sync" in error_of(response)["message"]


def test_admin_api_is_off_without_a_configured_token(tmp_path: Path, models: ModelProvider) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=None)
    services = build_services(settings, models=models)
    response = create_app(services=services).test_client().post("/admin/sync")
    assert response.status_code == 403
    assert "VITRINE_ADMIN_TOKEN" in error_of(response)["message"]
    services.close()


def test_health_reports_both_dependencies(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "vector_store": "ok",
        "vector_store_mode": "embedded",
    }


def test_dependencies_down_give_503_not_a_stack_trace(tmp_path: Path, models: ModelProvider) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2",
        qdrant_url="http://127.0.0.1:9",
    )
    services = build_services(settings, models=models)
    client = create_app(services=services).test_client()
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json["database"].startswith("unavailable")  # type: ignore[index]
    assert health.json["vector_store"].startswith("unavailable")  # type: ignore[index]
    for response in (client.get("/products"), client.get("/products/1/similar")):
        assert response.status_code == 503
        assert error_of(response)["code"] == "unavailable"
        assert "Traceback" not in response.get_data(as_text=True)
    search = client.post("/search", data=upload(picture_bytes((1, 2, 3))), content_type="multipart/form-data")
    assert search.status_code == 503
    services.close()


def test_bulk_upsert_keeps_good_rows_and_reports_bad_ones(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    import json

    existing = create(client, admin_headers)
    lines = [
        json.dumps({"sku": "BULK-1", "name": "Bowl", "category": "bowls", "price": 4, "currency": "EUR"}),
        json.dumps({"sku": "MUG-1", "price": 99}),  # partial update of an existing SKU
        "{broken",
        json.dumps({"sku": "BULK-2", "name": "Cup", "category": "cups", "price": -1, "currency": "EUR"}),
        "",
        json.dumps(
            {"sku": "BULK-3", "name": "Jug", "category": "jugs", "price": 7, "currency": "EUR", "images": []}
        ),
    ]
    response = client.post(
        "/admin/products/bulk",
        data="\n".join(lines),
        headers={**admin_headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["created"], body["updated"]) == (1, 1)  # type: ignore[index]
    assert [error["line"] for error in body["errors"]] == [3, 4, 6]  # type: ignore[index]
    assert "price" in body["errors"][1]["error"]  # type: ignore[index]
    assert client.get(f"/products/{existing['id']}").json["price"] == 99  # type: ignore[index]
    assert client.get("/products").json["total"] == 2  # type: ignore[index]
    wrong_type = client.post("/admin/products/bulk", json={"sku": "x"}, headers=admin_headers)
    assert wrong_type.status_code == 415


def test_a_deleted_photo_is_never_shown_as_the_match(
    client: FlaskClient, admin_headers: dict[str, str], catalog_of_three: dict[str, int]
) -> None:
    photo = picture_bytes((220, 20, 20), size=128)

    def search() -> list[dict[str, Any]]:
        response = client.post("/search", data=upload(photo), content_type="multipart/form-data")
        return response.json["results"]  # type: ignore[index,no-any-return]

    matched = search()[0]["matched_image_id"]
    red = catalog_of_three["red"]
    assert client.delete(f"/admin/products/{red}/images/{matched}", headers=admin_headers).status_code == 204
    results = search()  # before any sync
    assert matched not in [item["matched_image_id"] for item in results]
    for item in results:
        image = client.get(f"/products/{item['product']['id']}/images/{item['matched_image_id']}")
        image.close()
        assert image.status_code == 200


def test_paging_through_identical_photos_neither_repeats_nor_skips(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    photo = picture_bytes((40, 160, 90), size=96, mark=3)
    ids = [create(client, admin_headers, sku=f"TIE-{index}")["id"] for index in range(6)]
    for product_id in ids:
        add_photo(client, admin_headers, product_id, photo)
    assert client.post("/admin/sync", headers=admin_headers).json["reused"] == 5  # type: ignore[index]
    seen = []
    offset: int | None = 0
    while offset is not None:
        page = client.post(
            "/search", data=upload(photo, limit="1", offset=str(offset)), content_type="multipart/form-data"
        ).json
        seen += [item["product"]["id"] for item in page["results"]]  # type: ignore[index]
        offset = page["next_offset"]  # type: ignore[index]
    assert seen == sorted(ids)  # equal scores: product id breaks the tie, every page the same way


def test_search_a_region_of_the_photo(client: FlaskClient, catalog_of_three: dict[str, int]) -> None:
    """A shelf photo with a red mug on the left and a blue plate on the right: the box decides."""
    shelf = Image.new("RGB", (256, 128), (220, 20, 20))
    shelf.paste(Image.new("RGB", (128, 128), (20, 20, 220)), (128, 0))
    buffer = io.BytesIO()
    shelf.save(buffer, format="PNG")
    photo = buffer.getvalue()

    def first(region: str) -> int:
        response = client.post("/search", data=upload(photo, "shelf.png", region=region))
        assert response.status_code == 200, response.json
        return int(response.json["results"][0]["product"]["id"])

    assert first("0,0,0.5,1") == catalog_of_three["red"]
    assert first("0.5, 0, 1, 1") == catalog_of_three["blue"]
    for bad in ("0,0,1", "0,0,2,1", "0.5,0,0.4,1", "a,b,c,d", "0,0,0.01,1"):
        response = client.post("/search", data=upload(photo, "shelf.png", region=bad))
        assert response.status_code == 400, (bad, response.json)
        assert "region" in response.json["error"]["message"], response.json
    small = client.post("/search", data=upload(picture_bytes((220, 20, 20), size=64), region="0,0,0.1,0.1"))
    assert small.status_code == 400 and "16 pixels" in small.json["error"]["message"]


def test_timestamps_carry_their_zone_on_writes_and_reads(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    created = create(client, admin_headers)
    read = client.get(f"/products/{created['id']}").json
    listed = client.get("/products").json["products"][0]
    for body in (created, read, listed):
        assert body["created_at"].endswith("+00:00") and body["updated_at"].endswith("+00:00"), body
    assert read["created_at"] == created["created_at"]


def test_similar_counts_facets_given_comma_separated_or_repeated(
    client: FlaskClient, catalog_of_three: dict[str, int]
) -> None:
    """`facets=category,brand` in a query string was a 400 ("cannot facet on 'category,brand'")."""
    path = f"/products/{catalog_of_three['red']}/similar"
    together = client.get(f"{path}?facets=category,brand")
    repeated = client.get(f"{path}?facets=category&facets=brand")
    assert together.status_code == 200, together.json
    assert together.json["facets"] == repeated.json["facets"]
    assert set(together.json["facets"]) == {"category", "brand"}

"""Hostile input gets a clear 4xx with the error body's `details`, never a 500, and changes nothing.

Each case was a 500 (or a silent acceptance) before: ids beyond what the database column holds,
non-finite or fractional numbers, JSON nested past Python's recursion limit, integers too long
to read, oversized id lists.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.api.requests import MAX_FORM_PARTS, MAX_IDS, MAX_UPLOADS
from backend.wiring import Services
from tests.pictures import picture_bytes

PRODUCT = {"sku": "MUG-1", "name": "Red mug", "category": "mugs", "price": 12.5, "currency": "EUR"}
DEEP_LIST = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 5_000 + "1" + "}" * 5_000


def error_body(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    body: dict[str, Any] = response.json
    assert set(body["error"]) >= {"code", "message", "details"}
    assert isinstance(body["error"]["details"], dict)
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("product_id", [2**31, 2**63, 2**70, 0])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/products/{id}"),
        ("get", "/products/{id}/similar"),
        ("get", "/products/{id}/images/1"),
        ("patch", "/admin/products/{id}"),
        ("delete", "/admin/products/{id}"),
        ("delete", "/admin/products/1/images/{id}"),
    ],
)
def test_ids_no_database_can_hold_are_404(
    client: FlaskClient, admin_headers: dict[str, str], method: str, path: str, product_id: int
) -> None:
    response = getattr(client, method)(path.format(id=product_id), json={"price": 1}, headers=admin_headers)
    error_body(response, 404)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"positive": [2**63]}, "positive.0: Input should be less than or equal to 2147483647"),
        ({"positive": [2**31]}, "positive.0: Input should be less than or equal to 2147483647"),
        ({"positive": [1], "negative": [-5]}, "negative.0: Input should be greater than or equal to 1"),
        ({"positive": list(range(1, MAX_IDS + 2))}, f"positive: List should have at most {MAX_IDS} items"),
        ({"positive": [True]}, "positive.0: Input should be a valid integer"),
        ({"positive": [1], "limit": 5.9}, "limit: Input should be a valid integer"),
        ({"positive": [1], "limit": 1e309}, "limit: Input should be a valid integer"),
        ({"positive": [1], "offset": 2**70}, "offset: Input should be less than or equal to 1000"),
        ({"positive": [1], "min_score": True}, "min_score: Input should be a valid number"),
    ],
)
def test_recommendation_bodies_out_of_range_are_400(
    client: FlaskClient, body: dict[str, Any], needle: str
) -> None:
    error = error_body(client.post("/recommendations", json=body), 400)
    assert needle in error["message"]


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e309"])
@pytest.mark.parametrize("field", ["limit", "offset"])
def test_non_finite_numbers_in_json_are_400(client: FlaskClient, number: str, field: str) -> None:
    raw = f'{{"positive": [1], "{field}": {number}}}'
    error = error_body(client.post("/recommendations", data=raw, content_type="application/json"), 400)
    assert field in error["message"]


def test_session_ids_beyond_64_bits_are_400(client: FlaskClient) -> None:
    error = error_body(client.post("/recommendations/session", json={"viewed": [2**70]}), 400)
    assert "viewed" in error["message"]


@pytest.mark.parametrize("query", ["offset=9223372036854775808", "limit=201", "limit=1.5", "offset=-1"])
def test_product_listing_parameters_out_of_range_are_400(client: FlaskClient, query: str) -> None:
    error = error_body(client.get(f"/products?{query}"), 400)
    assert query.split("=")[0] in error["message"]


@pytest.mark.parametrize("payload", [DEEP_LIST, DEEP_OBJECT])
@pytest.mark.parametrize(
    ("path", "admin"),
    [("/recommendations", False), ("/recommendations/session", False), ("/admin/products", True)],
)
def test_deeply_nested_json_is_400(
    client: FlaskClient, admin_headers: dict[str, str], payload: str, path: str, admin: bool
) -> None:
    headers = admin_headers if admin else {}
    response = client.post(path, data=payload, content_type="application/json", headers=headers)
    error = error_body(response, 400)
    assert "malformed JSON" in error["message"]


def test_a_deep_or_unreadable_bulk_line_is_reported_and_the_rest_kept(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    good = {**PRODUCT, "sku": "BULK-1"}
    lines = [
        json.dumps(good),
        DEEP_OBJECT,
        '{"sku": "BULK-2", "price": ' + "9" * 5000 + "}",
        json.dumps({**PRODUCT, "sku": "BULK-3"}),
    ]
    response = client.post(
        "/admin/products/bulk",
        data="\n".join(lines),
        headers={**admin_headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    body = response.json
    assert (body["created"], body["updated"]) == (2, 0)  # type: ignore[index]
    errors = {error["line"]: error["error"] for error in body["errors"]}  # type: ignore[index]
    assert sorted(errors) == [2, 3]
    assert "nested too deeply" in errors[2] and "too long" in errors[3]


def test_errors_without_details_of_their_own_still_carry_the_key(client: FlaskClient) -> None:
    for response, status in [
        (client.get("/no/such/route"), 404),
        (client.put("/search"), 405),
        (client.post("/recommendations", data="{bad", content_type="application/json"), 400),
        (client.post("/admin/products", json=PRODUCT), 401),
    ]:
        assert error_body(response, status)["details"] == {}


def photo_fields(count: int, field: str = "image") -> dict[str, Any]:
    return {
        field: [(io.BytesIO(picture_bytes((9, 9, 9), mark=index)), f"{index}.jpg") for index in range(count)]
    }


def test_a_urlencoded_search_is_415_not_a_filter_error(client: FlaskClient) -> None:
    error = error_body(client.post("/search", data={"image": "x", "limit": "3"}), 415)
    assert "multipart/form-data" in error["message"]


def test_too_many_photos_in_a_field_are_refused_before_decoding(client: FlaskClient) -> None:
    body = {**photo_fields(MAX_UPLOADS + 1, "positive_image"), "request": json.dumps({"positive": []})}
    error = error_body(client.post("/recommendations", data=body, content_type="multipart/form-data"), 400)
    assert f"at most {MAX_UPLOADS} files" in error["message"]


def test_too_many_parts_name_the_part_limit_not_the_byte_limit(client: FlaskClient) -> None:
    fields = {f"f{index}": "1" for index in range(MAX_FORM_PARTS + 5)}
    error = error_body(client.post("/search", data=fields, content_type="multipart/form-data"), 413)
    assert f"too many multipart parts; the limit is {MAX_FORM_PARTS}" in error["message"]


@pytest.mark.parametrize(
    "spec", ["/etc/passwd", "/etc/hostname", "resnet50:/etc/passwd", "../../etc/passwd", "nope"]
)
def test_sync_names_only_registered_models_or_checkpoints_in_the_models_folder(
    client: FlaskClient, admin_headers: dict[str, str], spec: str
) -> None:
    error = error_body(client.post("/admin/sync", json={"model": spec}, headers=admin_headers), 400)
    # The same answer whether or not the file exists: nothing about the server's files leaks.
    assert error["message"].startswith(f"unknown model {spec!r}: name one of")
    assert error["details"] == {"field": "model"}


def test_an_unloadable_checkpoint_in_the_models_folder_is_400(
    client: FlaskClient, admin_headers: dict[str, str], services: Services
) -> None:
    folder = services.settings.model_folder
    folder.mkdir(parents=True)
    (folder / "broken.pt").write_bytes(b"not a checkpoint")
    error = error_body(client.post("/admin/sync", json={"model": "broken.pt"}, headers=admin_headers), 400)
    assert "cannot be loaded" in error["message"]


def test_a_registered_model_name_is_still_accepted(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    response = client.post("/admin/sync", json={"model": "efficientnet_lite0"}, headers=admin_headers)
    assert response.status_code == 200, response.json
    assert response.json["model"].startswith("efficientnet_lite0__")  # type: ignore[index]


def test_a_404_for_many_unknown_ids_names_a_few_and_lists_all_in_details(client: FlaskClient) -> None:
    unknown = list(range(500_000, 500_000 + MAX_IDS))
    error = error_body(client.post("/recommendations", json={"positive": unknown}), 404)
    assert error["message"].endswith(f"and {MAX_IDS - 10} more") and len(error["message"]) < 200
    assert error["details"]["product_ids"] == unknown


@pytest.mark.parametrize("separator", ["\u2028", "\u0085", "\r", "\u2029"])
def test_a_bulk_row_holding_a_line_separator_is_one_row(
    client: FlaskClient, admin_headers: dict[str, str], separator: str
) -> None:
    rows = [
        json.dumps({**PRODUCT, "sku": "SEP-1", "name": f"Mug{separator}red"}, ensure_ascii=False),
        "{broken",
        json.dumps({**PRODUCT, "sku": "SEP-2"}),
    ]
    response = client.post(
        "/admin/products/bulk",
        data="\r\n".join(rows).encode(),
        headers={**admin_headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.json
    assert (response.json["created"], [e["line"] for e in response.json["errors"]]) == (2, [2])  # type: ignore[index]


def test_a_bulk_sku_with_spaces_updates_the_product_it_names(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    assert (
        client.post("/admin/products", json={**PRODUCT, "sku": "B-1"}, headers=admin_headers).status_code
        == 201
    )
    response = client.post(
        "/admin/products/bulk",
        data=json.dumps({"sku": " B-1 ", "price": 3}),
        headers={**admin_headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.json == {"created": 0, "updated": 1, "errors": []}


@pytest.mark.parametrize("model", ["a\x00b", "\ud800.pt", "line\nbreak"])
def test_a_model_name_that_cannot_name_a_file_is_400(
    client: FlaskClient, admin_headers: dict[str, str], model: str
) -> None:
    """A NUL or a lone surrogate in the model name was a 500 (the path check raised); found by fuzzing."""
    raw = json.dumps({"model": model})
    response = client.post("/admin/sync", data=raw, content_type="application/json", headers=admin_headers)
    assert "model" in error_body(response, 400)["message"]

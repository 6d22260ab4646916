"""Concurrent writes take turns: conflicts answer 409 or 404, never 500, and no writer is refused as
"database unavailable" while the database is up. Before, SQLite gave IntegrityError 500s for racing
creates and "database is locked" 503s for parallel bulks, and a bulk request committed row by row.
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from backend.wiring import Services
from tests.pictures import picture_bytes

PRODUCT = {"name": "Red mug", "category": "mugs", "price": 12.5, "currency": "EUR"}


def in_parallel(count: int, call: Callable[[int], Any]) -> list[Any]:
    """Run call(0..count-1) on as many threads, released together, and return their results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = call(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_creates_of_one_sku_give_one_product_and_409s(
    app: Flask, admin_headers: dict[str, str]
) -> None:
    def create(_index: int) -> int:
        response = app.test_client().post(
            "/admin/products", json={"sku": "RACE-1", **PRODUCT}, headers=admin_headers
        )
        if response.status_code != 201:
            assert response.json["error"]["code"] == "conflict", response.json
        return int(response.status_code)

    statuses = Counter(in_parallel(30, create))
    assert statuses == {201: 1, 409: 29}
    assert app.test_client().get("/products").json["total"] == 1


def test_racing_renames_to_one_sku_leave_it_unique(app: Flask, admin_headers: dict[str, str]) -> None:
    client = app.test_client()
    ids = [
        client.post("/admin/products", json={"sku": f"R-{n}", **PRODUCT}, headers=admin_headers).json["id"]
        for n in range(12)
    ]

    def rename(index: int) -> int:
        response = app.test_client().patch(
            f"/admin/products/{ids[index]}", json={"sku": "TAKEN"}, headers=admin_headers
        )
        return int(response.status_code)

    statuses = Counter(in_parallel(len(ids), rename))
    assert statuses == {200: 1, 409: len(ids) - 1}
    skus = [item["sku"] for item in client.get("/products").json["products"]]
    assert skus.count("TAKEN") == 1


def test_uploads_racing_a_delete_are_201_or_404(
    app: Flask, admin_headers: dict[str, str], services: Services
) -> None:
    client = app.test_client()
    product_id = client.post("/admin/products", json={"sku": "GONE", **PRODUCT}, headers=admin_headers).json[
        "id"
    ]
    photo = picture_bytes((200, 30, 30))

    def act(index: int) -> int:
        own = app.test_client()
        if index == 0:
            return int(own.delete(f"/admin/products/{product_id}", headers=admin_headers).status_code)
        upload = {"image": (io.BytesIO(photo), f"p{index}.png")}
        response = own.post(f"/admin/products/{product_id}/images", data=upload, headers=admin_headers)
        return int(response.status_code)

    statuses = in_parallel(8, act)
    assert statuses[0] == 204
    assert set(statuses[1:]) <= {201, 404}, statuses
    with services.sessions() as session:
        assert session.execute(text("SELECT count(*) FROM product_images")).scalar() == 0


def test_parallel_bulks_all_succeed(app: Flask, admin_headers: dict[str, str]) -> None:
    def bulk(index: int) -> tuple[int, Any]:
        rows = "\n".join(json.dumps({"sku": f"B{index}-{n}", **PRODUCT}) for n in range(150))
        response = app.test_client().post(
            "/admin/products/bulk",
            data=rows,
            headers={**admin_headers, "Content-Type": "application/x-ndjson"},
        )
        return int(response.status_code), response.json

    results = in_parallel(8, bulk)
    assert all(status == 200 for status, _ in results), results
    assert sum(body["created"] for _, body in results) == 8 * 150
    assert app.test_client().get("/products").json["total"] == 8 * 150


def test_a_bulk_is_one_transaction_that_keeps_good_rows(
    app: Flask, admin_headers: dict[str, str], services: Services
) -> None:
    """Bad rows are reported and the good ones kept, all in one commit: a crash mid-request keeps none."""
    url = services.settings.database_url
    commits: list[str] = []
    engine = services.sessions.kw["bind"]
    event.listen(engine, "commit", lambda _connection: commits.append("commit"))
    statements: list[str] = []
    if url.startswith("sqlite"):
        # The driver's own statements (BEGIN, SAVEPOINT, RELEASE, COMMIT) are seen only this way.
        def trace(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(statements.append)

        engine.dispose()
        event.listen(engine, "connect", trace)
    rows = [json.dumps({"sku": f"T-{n}", **PRODUCT}) for n in range(20)]
    rows[7] = json.dumps({"sku": "T-bad", **PRODUCT, "price": -1})
    response = app.test_client().post(
        "/admin/products/bulk",
        data="\n".join(rows),
        headers={**admin_headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.json
    assert response.json["created"] == 19
    assert [error["line"] for error in response.json["errors"]] == [8]
    assert len(commits) == 1
    if url.startswith("sqlite"):
        begins = [sql for sql in statements if sql.upper().startswith("BEGIN")]
        driver_commits = [sql for sql in statements if sql.upper().startswith("COMMIT")]
        assert begins == ["BEGIN IMMEDIATE"] and len(driver_commits) == 1, statements[:12]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_writer_waits_for_the_lock_instead_of_failing(
    app: Flask, admin_headers: dict[str, str], services: Services
) -> None:
    """A write waits its turn behind another writer (up to the busy timeout) and then succeeds."""
    path = make_url(services.settings.database_url).database
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")  # another process's write, in progress
        result: dict[str, Any] = {}

        def create() -> None:
            response = app.test_client().post(
                "/admin/products", json={"sku": "WAITS", **PRODUCT}, headers=admin_headers
            )
            result["status"] = response.status_code

        writer = threading.Thread(target=create)
        writer.start()
        writer.join(timeout=1.0)
        assert writer.is_alive(), "the write should wait for the held lock"
        holder.execute("COMMIT")
    writer.join(timeout=30)
    assert result["status"] == 201


def test_a_bulk_chunk_the_database_refuses_is_redone_row_by_row(
    app: Flask, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SKU another writer inserted after the chunk's lookup makes its flush fail: the rows are then
    applied one by one, so that row updates the product and the others are still created."""
    client = app.test_client()
    client.post("/admin/products", json={"sku": "LATE", **PRODUCT}, headers=admin_headers)
    # The chunk's lookup misses LATE, as it would if LATE were committed just after it.
    monkeypatch.setattr("backend.catalog.queries.products_by_sku", lambda _session, _skus: {})
    rows = [{"sku": f"N-{n}", **PRODUCT} for n in range(5)] + [{"sku": "LATE", **PRODUCT, "price": 3}]
    rows.append({"sku": "N-bad", **PRODUCT, "currency": "euros"})
    response = client.post(
        "/admin/products/bulk",
        data="\n".join(json.dumps(row) for row in rows),
        headers={**admin_headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.json
    assert (response.json["created"], response.json["updated"]) == (5, 1)
    assert [error["line"] for error in response.json["errors"]] == [7]
    products = {item["sku"]: item for item in client.get("/products").json["products"]}
    assert set(products) == {"LATE", *(f"N-{n}" for n in range(5))}
    assert float(products["LATE"]["price"]) == 3.0

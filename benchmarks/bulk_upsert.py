"""Seconds for a bulk upsert of 20,000 catalog rows (`POST /admin/products/bulk`), on SQLite and PostgreSQL.

Run from the repository root:  .venv/bin/python benchmarks/bulk_upsert.py [--rows 20000]
PostgreSQL is the tests' server (VITRINE_TEST_DATABASE_URL, by default 127.0.0.1:5432).

In the same run, for each database, on a freshly migrated catalog:

- ours, create: the NDJSON body through the Flask app (validation, a savepoint per row, one commit);
- ours, update: the same body again, so every row is matched by SKU and changed;
- baseline: the same rows inserted with one SQLAlchemy Core `executemany` and no validation, the floor
  that any row-by-row API sits above.

The goal is under 10 s for the 20,000 creates and for the 20,000 updates on each database.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from backend.app import create_app
from backend.catalog.database import create_database_engine, upgrade_schema
from backend.catalog.schema import Product
from backend.model_provider import ModelProvider
from backend.settings import Settings
from backend.wiring import build_services
from tests.conftest import create_postgres_database, drop_postgres_database

GOAL_S = 10.0
TOKEN = "bench-token"


def rows(count: int, price: float) -> list[dict[str, object]]:
    return [
        {
            "sku": f"SKU-{n:06d}",
            "name": f"Product {n}",
            "brand": f"Brand {n % 50}",
            "category": f"Category {n % 20}",
            "price": price + n % 100,
            "currency": "EUR",
            "in_stock": n % 3 != 0,
            "attributes": {"colour": ["red", "green", "blue"][n % 3], "size": n % 7},
        }
        for n in range(count)
    ]


def through_api(url: str, data_dir: Path, body: str, count: int) -> float:
    settings = Settings(data_dir=data_dir, database_url=url, admin_token=TOKEN)
    services = build_services(settings, models=ModelProvider("efficientnet_lite0"))
    client = create_app(services=services).test_client()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    start = time.perf_counter()
    response = client.post("/admin/products/bulk", data=body, headers=headers)
    elapsed = time.perf_counter() - start
    services.close()
    report = response.get_json()
    assert response.status_code == 200 and not report["errors"], report
    assert report["created"] + report["updated"] == count, report
    return elapsed


def core_insert(url: str, batch: list[dict[str, object]]) -> float:
    engine = create_database_engine(url)
    now = datetime.now(UTC)
    values = [{**row, "created_at": now, "updated_at": now} for row in batch]
    start = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(insert(Product), values)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def measure(name: str, make_url: Callable[..., str], count: int) -> None:
    created = rows(count, 10.0)
    create_body = "\n".join(json.dumps(row) for row in created)
    update_body = "\n".join(
        json.dumps({"sku": row["sku"], "price": 99.5, "in_stock": True}) for row in created
    )
    with tempfile.TemporaryDirectory() as folder:
        url = make_url()
        upgrade_schema(url)
        create_s = through_api(url, Path(folder) / "data", create_body, count)
        update_s = through_api(url, Path(folder) / "data", update_body, count)
        baseline_url = make_url(second=True)
        upgrade_schema(baseline_url)
        baseline_s = core_insert(baseline_url, created)
    print(
        f"{name:<11} {count:>6} rows | baseline {baseline_s:6.2f} s | create {create_s:6.2f} s "
        f"({create_s / baseline_s:5.1f}x baseline, {count / create_s:6.0f} rows/s) "
        f"| update {update_s:6.2f} s ({count / update_s:6.0f} rows/s) | goal < {GOAL_S:.0f} s: "
        f"{'met' if max(create_s, update_s) < GOAL_S else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:

        def sqlite_url(second: bool = False) -> str:
            return f"sqlite:///{folder}/{'baseline' if second else 'catalog'}.sqlite3"

        measure("SQLite", sqlite_url, args.rows)
    made: list[str] = []

    def postgres_url(second: bool = False) -> str:
        made.append(create_postgres_database())
        return made[-1]

    try:
        measure("PostgreSQL", postgres_url, args.rows)
    finally:
        for url in made:
            drop_postgres_database(url)


if __name__ == "__main__":
    main()

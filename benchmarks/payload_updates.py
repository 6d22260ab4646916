"""Payload-only catalog updates per second, end to end (database + vector index).

Builds N products with one image each directly in a fresh catalog database and index
(random unit vectors: payload updates do not depend on vector values), changes every
product's price and stock, and times getting the change into the index two ways:

- baseline: one payload write per changed product, each made durable before the next, the
  way a naive per-product hook would do it (timed on the first --baseline-products products:
  at ~25/s, all 10k would take 7 minutes);
- ours: `vitrine sync` (SyncService.run): one comparison of catalog and index, then batched
  payload overwrites; nothing is re-embedded.

Run: .venv/bin/python benchmarks/payload_updates.py [--products 10000] [--database-url URL]
     [--engine edge|local]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import insert, update

from backend import catalog
from backend.database import transaction, upgrade_schema
from backend.models import Product, ProductImage
from backend.services import build_services
from backend.settings import Settings
from backend.sync import point_payload
from backend.vectors import IndexPoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--baseline-products", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp folder")
    parser.add_argument("--engine", choices=("edge", "local"), default="edge", help="embedded engine")
    arguments = parser.parse_args()
    count = arguments.products
    folder = Path(tempfile.mkdtemp(prefix="vitrine-bench-"))
    settings = Settings(
        data_dir=folder, database_url=arguments.database_url or "", embedded_engine=arguments.engine
    )
    upgrade_schema(settings.database_url)
    services = build_services(settings)
    embedder = services.models.get()
    collection = services.store.collection_name(embedder.info.key)
    services.store.ensure_collection(collection, embedder.info.dimension)
    print(
        f"load {os.getloadavg()[0]:.1f}; {count} products; database {settings.database_url.split(':')[0]}; "
        f"engine {arguments.engine}"
    )

    with transaction(services.sessions) as session:
        session.execute(
            insert(Product),
            [
                {
                    "id": i + 1,
                    "sku": f"B-{i}",
                    "name": f"Bench {i}",
                    "description": "",
                    "category": f"c{i % 50}",
                    "brand": f"b{i % 20}",
                    "price": Decimal(10),
                    "currency": "EUR",
                    "in_stock": True,
                    "attributes": {},
                }
                for i in range(count)
            ],
        )
        session.execute(
            insert(ProductImage),
            [
                {
                    "id": i + 1,
                    "product_id": i + 1,
                    "content_hash": f"{i:064x}",
                    "storage_key": "none",
                    "original_name": "",
                    "width": 1,
                    "height": 1,
                    "position": 0,
                }
                for i in range(count)
            ],
        )
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(count, embedder.info.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with services.sessions() as session:
        rows = list(catalog.iter_indexed_images(session))
    start = time.perf_counter()
    for offset in range(0, count, 1000):
        services.store.upsert(
            collection,
            [
                IndexPoint(row.image_id, vectors[row.image_id - 1], point_payload(row, embedder.info.key))
                for row in rows[offset : offset + 1000]
            ],
        )
    services.store.optimize(collection)
    print(f"initial index of {count} points (upsert + optimize): {time.perf_counter() - start:.1f} s")

    def change_prices(price: int) -> float:
        started = time.perf_counter()
        with transaction(services.sessions) as session:
            session.execute(update(Product).values(price=Decimal(price), in_stock=price % 2 == 0))
        return time.perf_counter() - started

    sample = min(arguments.baseline_products, count)
    database_seconds = change_prices(11)
    start = time.perf_counter()
    with services.sessions() as session:
        changed = list(catalog.iter_indexed_images(session))[:sample]
    for row in changed:
        services.store.overwrite_payloads(collection, {row.image_id: point_payload(row, embedder.info.key)})
    # The database update covered all products; charge the sample its share of it.
    baseline = database_seconds * sample / count + time.perf_counter() - start

    database_seconds = change_prices(12)
    start = time.perf_counter()
    report = services.sync.run()
    sync_seconds = time.perf_counter() - start
    ours = database_seconds + sync_seconds
    assert report.payload_updated == count and report.embedded == 0, report

    print(f"{'way':<40}{'products':>10}{'seconds':>10}{'products/s':>12}")
    print(f"{'baseline: one durable write each':<40}{sample:>10}{baseline:>10.2f}{sample / baseline:>12.0f}")
    print(f"{'ours: UPDATE + vitrine sync (batched)':<40}{count:>10}{ours:>10.2f}{count / ours:>12.0f}")
    print(f"  of which database UPDATE {database_seconds:.2f} s, sync {sync_seconds:.2f} s")
    print(f"ratio ours/baseline (products/s): {(count / ours) / (sample / baseline):.1f}x")
    services.close()


if __name__ == "__main__":
    main()

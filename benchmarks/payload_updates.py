"""Payload-only catalog updates per second, end to end (database + vector index).

Builds N products with --photos images each directly in a fresh catalog database and index
(random unit vectors: payload updates do not depend on vector values), gives every product
(or an evenly spread --share of them) a new price (a different one for each product, so no
two get the same change) and stock (a third out of stock), and times getting the change
into the index two ways:

- baseline: one payload write per changed point, each made durable before the next, the
  way a naive per-product hook would do it (timed on the points of the first
  --baseline-products products: at ~25/s, all 10k would take 7 minutes);
- ours: `vitrine sync` (SyncService.run): one comparison of catalog and index, the changed
  fields written while it runs; nothing is re-embedded. Above 20,000 points the sync ends
  with Edge's optimize, which rebuilds a segment once 20% of its points have moved (payload
  writes move points out of the HNSW segment); that share of each sync is printed.
  --rounds times (the same products change each round); the median round is reported, all
  rounds listed.

Edge scores points outside its HNSW graphs exactly and builds graphs only past thresholds
(backend/vectors/edge_config.py: 20,000 points outside a graph, half of a segment moved); search
latency and recall@10 against exact search (top 10 of random queries, unfiltered and one
category of 50; random vectors are the hard case for HNSW) are printed before and after the
rounds, so what leaving moved points outside a graph costs is seen beside what it saves.
--edge-defaults makes the collection with no optimizer settings, i.e. Edge's own thresholds
(10 MB of vectors, about 2,000 points at 1,280-d; a fifth of a segment moved), for comparison.

--database-url must name an empty scratch database (it refuses one that holds a catalog); the
bench creates its tables there and drops them at the end.

Run: .venv/bin/python benchmarks/payload_updates.py [--products 10000] [--database-url URL]
     [--engine edge|local] [--photos 1] [--share 1.0] [--rounds 5] [--edge-defaults]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as edge
from sqlalchemy import insert, inspect, text, update

from backend.catalog import queries as catalog
from backend.catalog.database import create_database_engine, downgrade_schema, transaction, upgrade_schema
from backend.catalog.schema import Product, ProductImage
from backend.filters.fields import point_payload
from backend.filters.search_filter import SearchFilter
from backend.settings import Settings
from backend.vectors import edge_config as edge_settings
from backend.vectors.types import IndexPoint, PayloadUpdate
from backend.wiring import build_services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--baseline-products", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp folder")
    parser.add_argument("--share", type=float, default=1.0, help="share of the products that change")
    parser.add_argument("--rounds", type=int, default=5, help="timed syncs; the median is reported")
    parser.add_argument("--photos", type=int, default=1, help="images per product")
    parser.add_argument("--engine", choices=("edge", "local"), default="edge", help="embedded engine")
    parser.add_argument("--edge-defaults", action="store_true", help="Edge's own optimizer thresholds")
    arguments = parser.parse_args()
    if arguments.edge_defaults:  # collections made with no optimizer settings: Edge's own
        edge_settings.edge_config = lambda dimension: edge.EdgeConfig(
            vectors=edge.EdgeVectorParams(size=dimension, distance=edge.Distance.Cosine)
        )
    folder = Path(tempfile.mkdtemp(prefix="vitrine-bench-"))
    settings = Settings(
        data_dir=folder, database_url=arguments.database_url or "", embedded_engine=arguments.engine
    )
    if inspect(create_database_engine(settings.database_url)).has_table("products"):
        parser.error("--database-url must be an empty scratch database; this one has a catalog")
    upgrade_schema(settings.database_url)
    try:
        run(arguments, settings)
    finally:
        downgrade_schema(settings.database_url, "base")
        with create_database_engine(settings.database_url).begin() as connection:
            connection.execute(text("DROP TABLE alembic_version"))
        shutil.rmtree(folder, ignore_errors=True)


def run(arguments: argparse.Namespace, settings: Settings) -> None:
    count = arguments.products
    photos = arguments.photos
    services = build_services(settings)
    embedder = services.models.get()
    collection = services.store.collection_name(embedder.info.key)
    services.store.ensure_collection(collection, embedder.info.dimension)
    print(
        f"load {os.getloadavg()[0]:.1f}; {count} products; database {settings.database_url.split(':')[0]}; "
        f"{photos} photo(s) each; {arguments.share:.0%} change per round; engine {arguments.engine}"
        + ("; Edge's default thresholds" if arguments.edge_defaults else "")
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
                    "product_id": i // photos + 1,
                    "content_hash": f"{i:064x}",
                    "storage_key": "none",
                    "original_name": "",
                    "width": 1,
                    "height": 1,
                    "position": i % photos,
                }
                for i in range(count * photos)
            ],
        )
    rng = np.random.default_rng(0)
    points = count * photos
    vectors = rng.normal(size=(points, embedder.info.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with services.sessions() as session:
        rows = list(catalog.iter_indexed_images(session))
    start = time.perf_counter()
    for offset in range(0, points, 1000):
        services.store.upsert(
            collection,
            [
                IndexPoint(row.image_id, vectors[row.image_id - 1], point_payload(row, embedder.info.key))
                for row in rows[offset : offset + 1000]
            ],
        )
    services.store.optimize(collection)
    print(f"initial index of {points} points (upsert + optimize): {time.perf_counter() - start:.1f} s")
    queries = rng.normal(size=(200, embedder.info.dimension)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    searched_before = search_latency(services, collection, queries, vectors, photos)

    period = max(1, round(1 / arguments.share))  # every period-th product changes
    changing = count // period

    def change_prices(base: int) -> float:
        """The changing products each a price of its own and a new stock flag."""
        started = time.perf_counter()
        with transaction(services.sessions) as session:
            session.execute(
                update(Product)
                .where(Product.id % period == 0)
                .values(
                    price=Decimal(base) + Product.id * Decimal("0.01"),
                    in_stock=(Product.id + base) % 3 != 0,
                )
            )
        return time.perf_counter() - started

    sample = min(arguments.baseline_products, changing)
    database_seconds = change_prices(11)
    start = time.perf_counter()
    with services.sessions() as session:
        changed = [
            row
            for row in catalog.iter_indexed_images(session)
            if row.product_id % period == 0 and row.product_id <= sample * period
        ]
    for row in changed:
        payload = PayloadUpdate([row.image_id], point_payload(row, embedder.info.key), replace=True)
        services.store.update_payloads(collection, [payload])
    # The database update covered all products; charge the sample its share of it.
    baseline = database_seconds * sample / changing + time.perf_counter() - start

    rounds = []  # (database seconds, sync seconds) per round; every product changes each round
    indexing: list[float] = []  # seconds each sync spent in the engine's optimize (index rebuild)
    optimize = services.store.optimize

    def timed_optimize(name: str) -> None:
        started = time.perf_counter()
        optimize(name)
        indexing.append(time.perf_counter() - started)

    services.store.optimize = timed_optimize  # type: ignore[method-assign]
    for round_number in range(arguments.rounds):
        database_seconds = change_prices(12 + round_number)
        start = time.perf_counter()
        report = services.sync.run()
        rounds.append((database_seconds, time.perf_counter() - start))
        assert report.payload_updated == changing * photos and report.embedded == 0, report
    database_seconds, sync_seconds = sorted(rounds, key=sum)[len(rounds) // 2]
    ours = database_seconds + sync_seconds

    print(f"{'way':<40}{'products':>10}{'seconds':>10}{'products/s':>12}")
    print(f"{'baseline: one durable write each':<40}{sample:>10}{baseline:>10.2f}{sample / baseline:>12.0f}")
    print(f"{'ours: UPDATE + vitrine sync (median)':<40}{changing:>10}{ours:>10.2f}{changing / ours:>12.0f}")
    print(f"  of which database UPDATE {database_seconds:.2f} s, sync {sync_seconds:.2f} s")
    each = ", ".join(f"{changing / sum(pair):.0f}" for pair in rounds)
    print(f"  all {len(rounds)} rounds, products/s: {each}")
    print(f"ratio ours/baseline (products/s): {(changing / ours) / (sample / baseline):.1f}x")
    print(
        "  of each sync, seconds in the engine's optimize: "
        + ", ".join(f"{seconds:.1f}" for seconds in indexing)
    )
    searched_after = search_latency(services, collection, queries, vectors, photos)
    print("search, top 10: p50 / p99 ms (recall@10)        before the rounds            after")
    for kind in searched_before:
        before, after = searched_before[kind], searched_after[kind]
        print(
            f"  {kind:<30}"
            + "".join(f"{p50:>10.1f} /{p99:>6.1f} ({recall:.3f})" for p50, p99, recall in (before, after))
        )
    services.close()


def search_latency(
    services: Any, collection: str, queries: np.ndarray, vectors: np.ndarray, photos: int
) -> dict[str, tuple[float, float, float]]:
    """p50 and p99 ms and recall@10 (against exact search) of top-10 product searches.

    Unfiltered, and in one category of 50 (products whose index is 7 modulo 50).
    """
    products = len(vectors) // photos
    in_category = np.arange(products) % 50 == 7
    found = {}
    kinds = (
        ("unfiltered", SearchFilter(), np.ones(products, dtype=bool)),
        ("category (1 of 50)", SearchFilter(categories=("c7",)), in_category),
    )
    for kind, search_filter, allowed in kinds:
        seconds, recalls = [], []
        for query in queries:
            started = time.perf_counter()
            hits = services.store.search_products(collection, query, search_filter, 10)
            seconds.append(time.perf_counter() - started)
            # A product scores its best photo; image ids run product by product.
            scores = (vectors @ query).reshape(products, photos).max(axis=1)
            scores[~allowed] = -np.inf
            exact = set((np.argsort(-scores)[:10] + 1).tolist())
            recalls.append(len(exact & {hit.product_id for hit in hits}) / len(exact))
        p50, p99 = np.percentile(np.array(seconds) * 1000, [50, 99])
        found[kind] = (float(p50), float(p99), float(np.mean(recalls)))
    return found


if __name__ == "__main__":
    main()

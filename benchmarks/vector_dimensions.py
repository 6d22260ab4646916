"""What smaller vectors save in the index: Qdrant Edge size, build time and latency by dimension.

Run from the repository root:
    .venv/bin/python benchmarks/vector_dimensions.py [--size 100000] [--dimensions 1280 512 256]
        [--queries 200]

The catalog and queries are search_latency.py's "clustered" ones (real EfficientNet-Lite0
vectors of Grocery Store train photos, products of 1-5 noisy images). For each smaller
dimension d the same points and queries are projected onto the catalog's first d principal
components and re-normalised, as a d-wide embedding head or PCA learned on the catalog would
give. Each dimension gets its own Edge collection, built and optimised (HNSW) as the sync does,
and answers the same unfiltered and recommend queries (top 10 products, the store's hnsw_ef).

Printed per dimension, the first (1280) being the baseline and the ratio column ours / baseline:
bytes per vector, the collection folder's size on disk, build seconds, p50/p99 ms per kind, and
recall@10 against NumPy's exact search at that same dimension (the engine's own loss; what a
smaller model loses in retrieval quality is docs/quality.md's business).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in search_latency.py

import numpy as np
from search_latency import (  # type: ignore[import-not-found]
    CACHE,
    UPSERT_BATCH,
    Catalog,
    NumpyEngine,
    Query,
    Vectors,
    make_catalog,
    make_queries,
    points,
    product_set,
    real_vectors,
    unit_rows,
)

from backend.vectors.edge_store import EdgeStore

KINDS = ("unfiltered", "recommend")


def principal_axes(vectors: Vectors, dimension: int, rng: np.random.Generator) -> tuple[Vectors, Vectors]:
    """The mean and the first `dimension` principal axes (rows) of a sample of the catalog."""
    sample = vectors[rng.choice(len(vectors), min(len(vectors), 20_000), replace=False)]
    mean = sample.mean(axis=0)
    _, _, axes = np.linalg.svd(sample - mean, full_matrices=False)
    return mean.astype(np.float32), axes[:dimension].astype(np.float32)


def project(
    catalog: Catalog, queries: list[Query], dimension: int, rng: np.random.Generator
) -> tuple[Catalog, list[Query]]:
    """Catalog and queries in `dimension` dims (unchanged at full width)."""
    if dimension == catalog.vectors.shape[1]:
        return catalog, queries
    mean, axes = principal_axes(catalog.vectors, dimension, rng)

    def down(rows: Vectors) -> Vectors:
        return unit_rows((np.atleast_2d(rows) - mean) @ axes.T)

    projected = [
        replace(
            query,
            vector=down(query.vector)[0],
            positives=tuple(down(vector)[0] for vector in query.positives),
            negatives=tuple(down(vector)[0] for vector in query.negatives),
        )
        for query in queries
    ]
    return replace(catalog, vectors=down(catalog.vectors)), projected


def folder_bytes(folder: Path) -> int:
    # Blocks in use, not apparent sizes: Edge preallocates files it has not filled yet.
    return sum(path.stat().st_blocks * 512 for path in folder.rglob("*") if path.is_file())


def measure(catalog: Catalog, queries: list[Query]) -> dict[str, float]:
    """Build an Edge collection of the catalog; time the queries and score them against NumPy."""
    exact = NumpyEngine()
    exact.build(catalog)
    truth = [product_set(exact.search(query), "numpy") for query in queries]
    folder = Path(tempfile.mkdtemp(prefix="vitrine-bench-dims-", dir=CACHE))
    store = EdgeStore.embedded_at(folder)
    try:
        collection = store.collection_name("bench")
        started = time.perf_counter()
        store.ensure_collection(collection, catalog.vectors.shape[1])
        for start in range(0, len(catalog.vectors), UPSERT_BATCH):
            store.upsert(collection, points(catalog, start, start + UPSERT_BATCH))
        store.optimize(collection)
        build = time.perf_counter() - started
        size = folder_bytes(folder)
        latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
        recalls: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for query, expected in zip(queries, truth, strict=True):
            started = time.perf_counter()
            if query.kind == "recommend":
                hits = store.recommend_products(
                    collection, list(query.positives), list(query.negatives), query.search_filter, 10
                )
            else:
                hits = store.search_products(collection, query.vector, query.search_filter, 10)
            latencies[query.kind].append((time.perf_counter() - started) * 1000)
            recalls[query.kind].append(len(product_set(hits, "edge") & expected) / max(1, len(expected)))
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)
    row: dict[str, float] = {
        "bytes/vector": 4 * catalog.vectors.shape[1],
        "disk MB": size / 1e6,
        "build s": build,
    }
    for kind in KINDS:
        row[f"{kind} p50 ms"] = float(np.percentile(latencies[kind], 50))
        row[f"{kind} p99 ms"] = float(np.percentile(latencies[kind], 99))
        row[f"{kind} recall@10"] = float(np.mean(recalls[kind]))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="points (product images)")
    parser.add_argument("--dimensions", type=int, nargs="+", default=[1280, 512, 256])
    parser.add_argument("--queries", type=int, default=200, help="queries per kind")
    parser.add_argument("--real-images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(arguments.seed)
    base = real_vectors(arguments.real_images)
    catalog = make_catalog(base, arguments.size, rng)
    queries = [query for query in make_queries(base, catalog, arguments.queries, rng) if query.kind in KINDS]
    print(f"{arguments.size} points, {arguments.queries} queries per kind, load {os.getloadavg()[0]:.1f}")
    rows = {}
    for dimension in arguments.dimensions:
        rows[dimension] = measure(
            *project(catalog, queries, dimension, np.random.default_rng(arguments.seed))
        )
        print(f"{dimension}: " + ", ".join(f"{key} {value:.3g}" for key, value in rows[dimension].items()))
    baseline = rows[arguments.dimensions[0]]
    print(f"\nload after {os.getloadavg()[0]:.1f}; ratio = ours / baseline ({arguments.dimensions[0]}-d)")
    header = "".join(f"{str(dimension) + '-d':>12}   ratio" for dimension in arguments.dimensions[1:])
    print(f"{'':22}  {str(arguments.dimensions[0]) + '-d':>10}" + header)
    for key, value in baseline.items():
        cells = "".join(
            f"{rows[dimension][key]:>12.3g} {rows[dimension][key] / value:7.2f}"
            for dimension in arguments.dimensions[1:]
        )
        print(f"{key:>22}  {value:>10.3g}" + cells)


if __name__ == "__main__":
    main()

"""Search latency and recall of the embedded vector engines, against NumPy exact search, in one run.

Run from the repository root:
    .venv/bin/python benchmarks/search_latency.py [--sizes 10000 100000] [--queries 200]
        [--engines numpy,local,edge] [--variants clustered,random]

Engines, each through the facade the service uses:
  numpy  exact brute force (the baseline, and the ground truth of recall)
  local  qdrant-client's embedded engine on disk (`backend.vectors.QdrantClientStore.embedded_at`)
  edge   Qdrant Edge on disk (`backend.vectors.edge_store.EdgeStore`), HNSW built by optimize()

Every query is Vitrine's query: the top 10 *products* (one hit per product_id), for unfiltered,
~1% and ~20% selective filters (category + price range, as a shopper filters), and a recommend
(two positive vectors, one negative, Qdrant's average_vector strategy). Recall@10 is the share of
NumPy's exact top-10 products (same filter) that an engine returns.

Vectors ("clustered", the realistic case): ~1,000 Grocery Store train images embedded once with
EfficientNet-Lite0 (1280-d, cached under var/bench/). Each product picks one real vector and mixes
in a second one (weight 0-0.3) plus Gaussian noise of norm 0.3, re-normalised; each of its 1-5
images adds noise of norm 0.25 to that and re-normalises. Queries are real vectors plus noise of
norm 0.3 (another photo of a catalog item). "random": i.i.d. Gaussian unit vectors, the
misleading worst case for graph indexes, reported separately. Categories (50, so one is 2%),
prices (1-100) and brands (40) are drawn per product, independent of the vector: filters cut
across clusters, the hard case for filtered HNSW.

qdrant-client's local mode scans everything in Python, so at 50k points and above it answers only
--local-cap queries (default 20) per kind; the output says so. With 20 queries p99 is the maximum.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol

# One BLAS thread: the engines answer one query on one core, and OpenBLAS's threads thrash on a
# loaded 2-core machine (a 1,000-row matrix-vector product took 20 ms instead of 0.3 ms).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import numpy.typing as npt

from backend.filters.search_filter import SearchFilter
from backend.vectors.edge_config import RECOMMEND_EF, SEARCH_EF
from backend.vectors.edge_store import EdgeStore
from backend.vectors.qdrant_client_store import QdrantClientStore
from backend.vectors.types import IndexPoint, ProductHit

ROOT = Path(__file__).resolve().parents[1]
GROCERY_TRAIN = ROOT.parent / "shared" / "datasets" / "grocery-store" / "dataset" / "train"
CACHE = ROOT / "var" / "bench"
DIMENSION = 1280
CATEGORIES = 50
BRANDS = 40
TOP = 10
UPSERT_BATCH = 500
KINDS = ("unfiltered", "filter_1pct", "filter_20pct", "recommend")
Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Catalog:
    """N points (product images) with the payload fields that filters use."""

    vectors: Vectors
    product_ids: npt.NDArray[np.int64]
    categories: npt.NDArray[np.int64]
    prices: npt.NDArray[np.float64]
    brands: npt.NDArray[np.int64]


@dataclass(frozen=True)
class Query:
    """One benchmark query: a vector or recommend examples, and a filter."""

    kind: str
    vector: Vectors
    search_filter: SearchFilter
    positives: tuple[Vectors, ...] = ()
    negatives: tuple[Vectors, ...] = ()


@dataclass
class Result:
    """One engine on one catalog: build time, latencies and recalls per query kind."""

    engine: str
    variant: str
    size: int
    build_s: float
    build_detail: str
    load_before: float
    load_after: float = 0.0
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    recalls: dict[str, list[float]] = field(default_factory=dict)


class Engine(Protocol):
    name: str

    def build(self, catalog: Catalog) -> tuple[float, str]: ...
    def search(self, query: Query) -> list[ProductHit]: ...
    def close(self) -> None: ...


def unit_rows(matrix: npt.NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length, float32."""
    rows: Vectors = (matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)).astype(np.float32)
    return rows


def noise(rng: np.random.Generator, rows: int, norm: float) -> Vectors:
    """Gaussian noise whose rows have (about) the given length."""
    sample: Vectors = (rng.standard_normal((rows, DIMENSION)) * (norm / np.sqrt(DIMENSION))).astype(
        np.float32
    )
    return sample


def real_vectors(count: int) -> Vectors:
    """EfficientNet-Lite0 embeddings of `count` Grocery Store train images, cached under var/bench."""
    cache = CACHE / f"grocery_train_efficientnet_lite0_{count}.npy"
    if cache.exists():
        cached: Vectors = np.load(cache)
        return cached
    from embedder import load_embedder

    paths = sorted(GROCERY_TRAIN.rglob("*.jpg"))
    paths = paths[:: max(1, len(paths) // count)][:count]
    vectors = load_embedder("efficientnet_lite0").embed_paths(paths, batch_size=32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def make_catalog(base: Vectors | None, size: int, rng: np.random.Generator) -> Catalog:
    """`size` points in products of 1-5 images; clustered around `base` rows, or random if None."""
    sizes = rng.integers(1, 6, size=size)  # more products than needed; cut at `size` points
    product_of_point = np.repeat(np.arange(len(sizes)), sizes)[:size]
    products = int(product_of_point[-1]) + 1
    if base is None:
        vectors = unit_rows(rng.standard_normal((size, DIMENSION)))
    else:
        first, second = rng.integers(0, len(base), products), rng.integers(0, len(base), products)
        mix = rng.uniform(0.0, 0.3, (products, 1)).astype(np.float32)
        centres = unit_rows(base[first] + mix * base[second] + noise(rng, products, 0.3))
        vectors = unit_rows(centres[product_of_point] + noise(rng, size, 0.25))
    return Catalog(
        vectors=vectors,
        product_ids=product_of_point.astype(np.int64),
        categories=rng.integers(0, CATEGORIES, products)[product_of_point],
        prices=np.round(rng.uniform(1.0, 100.0, products), 2)[product_of_point],
        brands=rng.integers(0, BRANDS, products)[product_of_point],
    )


def category_name(index: int) -> str:
    return f"category-{index:02d}"


def make_queries(base: Vectors | None, catalog: Catalog, count: int, rng: np.random.Generator) -> list[Query]:
    """`count` queries per kind; filters: category + price <= 50.50 (1%: one category, 20%: twenty)."""
    cheap = Decimal("50.50")
    if base is None:
        vectors = unit_rows(rng.standard_normal((count, DIMENSION)))
    else:
        vectors = unit_rows(base[rng.integers(0, len(base), count)] + noise(rng, count, 0.3))
    queries: list[Query] = []
    for vector in vectors:
        queries.append(Query("unfiltered", vector, SearchFilter()))
        one = (category_name(int(rng.integers(CATEGORIES))),)
        queries.append(Query("filter_1pct", vector, SearchFilter(categories=one, price_max=cheap)))
        twenty = tuple(category_name(int(c)) for c in rng.choice(CATEGORIES, 20, replace=False))
        queries.append(Query("filter_20pct", vector, SearchFilter(categories=twenty, price_max=cheap)))
        picks = rng.integers(0, len(catalog.vectors), 3)
        positives = (catalog.vectors[picks[0]], catalog.vectors[picks[1]])
        queries.append(Query("recommend", vector, SearchFilter(), positives, (catalog.vectors[picks[2]],)))
    return queries


def recommend_target(query: Query) -> Vectors:
    """Qdrant's average_vector strategy: 2 * mean(positive) - mean(negative)."""
    target: Vectors = 2 * np.mean(query.positives, axis=0) - np.mean(query.negatives, axis=0)
    return target


def filter_mask(catalog: Catalog, search_filter: SearchFilter) -> npt.NDArray[np.bool_]:
    """Which points pass the benchmark's filters (categories, price_max)."""
    mask = np.ones(len(catalog.vectors), dtype=bool)
    if search_filter.categories:
        labels = np.array([category_name(c) for c in range(CATEGORIES)])
        mask &= np.isin(labels, search_filter.categories)[catalog.categories]
    if search_filter.price_max is not None:
        mask &= catalog.prices <= float(search_filter.price_max)
    return mask


class NumpyEngine:
    """Exact search: every point scored, filter as a boolean mask, best image per product."""

    name = "numpy"

    def build(self, catalog: Catalog) -> tuple[float, str]:
        started = time.perf_counter()
        self.catalog = catalog
        return time.perf_counter() - started, "arrays in memory"

    def search(self, query: Query) -> list[ProductHit]:
        catalog = self.catalog
        target = recommend_target(query) if query.kind == "recommend" else query.vector
        if query.search_filter == SearchFilter():
            candidates, scores = np.arange(len(catalog.vectors)), catalog.vectors @ target
        else:
            candidates = np.flatnonzero(filter_mask(catalog, query.search_filter))
            scores = catalog.vectors[candidates] @ target
        # Rank a shortlist first; rank everything only if it holds fewer than TOP products.
        shortlist = min(len(scores), TOP * 20)
        hits = best_products(catalog, candidates, scores, np.argpartition(-scores, shortlist - 1)[:shortlist])
        if len(hits) < TOP and shortlist < len(scores):
            hits = best_products(catalog, candidates, scores, np.arange(len(scores)))
        return hits

    def close(self) -> None:
        pass


def best_products(
    catalog: Catalog, candidates: npt.NDArray[np.int64], scores: Vectors, positions: npt.NDArray[np.intp]
) -> list[ProductHit]:
    """The best-scoring point of each product among `positions`, best first, at most TOP."""
    hits: list[ProductHit] = []
    seen: set[int] = set()
    for position in positions[np.argsort(-scores[positions], kind="stable")]:
        point = int(candidates[position])
        product = int(catalog.product_ids[point])
        if product not in seen:
            seen.add(product)
            hits.append(ProductHit(product, point, float(scores[position])))
            if len(hits) == TOP:
                break
    return hits


class StoreEngine:
    """A Vitrine vector store facade (qdrant-client local mode, or Edge) in a temporary folder."""

    def __init__(self, name: str, open_store: Callable[[Path], QdrantClientStore | EdgeStore]) -> None:
        self.name = name
        self.folder = Path(tempfile.mkdtemp(prefix=f"vitrine-bench-{name}-", dir=CACHE))
        self.store = open_store(self.folder)
        self.collection = self.store.collection_name("bench")

    def build(self, catalog: Catalog) -> tuple[float, str]:
        started = time.perf_counter()
        self.store.ensure_collection(self.collection, DIMENSION)
        for start in range(0, len(catalog.vectors), UPSERT_BATCH):
            self.store.upsert(self.collection, points(catalog, start, start + UPSERT_BATCH))
        upserted = time.perf_counter() - started
        detail = f"upsert {upserted:.1f}s"
        if isinstance(self.store, EdgeStore):
            self.store.optimize(self.collection)
            detail += f" + optimize (HNSW) {time.perf_counter() - started - upserted:.1f}s"
        return time.perf_counter() - started, detail

    def search(self, query: Query) -> list[ProductHit]:
        if query.kind == "recommend":
            return self.store.recommend_products(
                self.collection, list(query.positives), list(query.negatives), query.search_filter, TOP
            )
        return self.store.search_products(self.collection, query.vector, query.search_filter, TOP)

    def set_ef(self, ef: int | None) -> None:
        """Edge only: the HNSW beam width of every query kind (None: the store's defaults; 0: Edge's own)."""
        if isinstance(self.store, EdgeStore):
            self.store.search_ef = SEARCH_EF if ef is None else ef or None
            self.store.recommend_ef = RECOMMEND_EF if ef is None else ef or None

    def close(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def points(catalog: Catalog, start: int, stop: int) -> list[IndexPoint]:
    """Index points with Vitrine's payload for catalog rows start..stop."""
    rows = range(start, min(stop, len(catalog.vectors)))
    return [
        IndexPoint(
            row + 1,
            catalog.vectors[row],
            {
                "product_id": int(catalog.product_ids[row]) + 1,
                "image_id": row + 1,
                "sku": f"SKU-{int(catalog.product_ids[row]) + 1}",
                "category": category_name(int(catalog.categories[row])),
                "brand": f"brand-{int(catalog.brands[row]):02d}",
                "price": float(catalog.prices[row]),
                "currency": "SEK",
                "in_stock": True,
                "content_hash": f"{row:064x}",
                "model": "efficientnet_lite0__imagenet__1280",
            },
        )
        for row in rows
    ]


def open_engine(name: str) -> Engine:
    if name == "numpy":
        return NumpyEngine()
    if name == "local":
        return StoreEngine("local", QdrantClientStore.embedded_at)
    if name == "edge":
        return StoreEngine("edge", EdgeStore.embedded_at)
    raise SystemExit(f"unknown engine {name!r}: choose from numpy, local, edge")


def product_set(hits: Sequence[ProductHit], engine: str) -> set[int]:
    # The stores number products from 1, NumPy from 0.
    return {hit.product_id - (0 if engine == "numpy" else 1) for hit in hits}


def run_engine(
    name: str,
    variant: str,
    catalog: Catalog,
    queries: list[Query],
    truth: list[set[int]] | None,
    cap: int | None,
    found_sets: list[set[int]],
    efs: Sequence[int | None] = (None,),
) -> list[Result]:
    """Build one engine, time its queries and score them against `truth` (None: collect truth).

    For Edge, each value in `efs` (None: the store's defaults, 0: Edge's own default) reruns
    the queries on the same build with that HNSW beam width, one Result each.
    """
    engine = open_engine(name)
    results: list[Result] = []
    try:
        build = engine.build(catalog)
        for ef in efs if isinstance(engine, StoreEngine) and name == "edge" else [None]:
            label = name if ef is None else f"{name} ef={ef or 'engine'}"
            result = Result(label, variant, len(catalog.vectors), *build, os.getloadavg()[0])
            if isinstance(engine, StoreEngine):
                engine.set_ef(ef)
            per_kind: dict[str, int] = {}
            for index, query in enumerate(queries):
                if cap is not None and per_kind.get(query.kind, 0) >= cap:
                    continue
                per_kind[query.kind] = per_kind.get(query.kind, 0) + 1
                started = time.perf_counter()
                hits = engine.search(query)
                result.latencies_ms.setdefault(query.kind, []).append((time.perf_counter() - started) * 1000)
                found = product_set(hits, name)
                found_sets.append(found)
                expected = found if truth is None else truth[index]
                result.recalls.setdefault(query.kind, []).append(
                    len(found & expected) / max(1, len(expected))
                )
            result.load_after = os.getloadavg()[0]
            results.append(result)
    finally:
        engine.close()
    return results


def print_result(result: Result, baseline: Result | None) -> None:
    queries = len(next(iter(result.latencies_ms.values()), []))
    print(
        f"  {result.engine:10} build {result.build_s:7.1f}s ({result.build_detail}); "
        f"{queries} queries per kind; load {result.load_before:.1f} -> {result.load_after:.1f}",
        flush=True,
    )
    for kind in KINDS:
        latencies = result.latencies_ms.get(kind)
        if not latencies:
            continue
        p50, p99 = np.percentile(latencies, 50), np.percentile(latencies, 99)
        recall = float(np.mean(result.recalls[kind]))
        ratio = ""
        if baseline is not None and baseline is not result:
            base50 = np.percentile(baseline.latencies_ms[kind], 50)
            ratio = f"  p50 x{p50 / base50:.2f} of numpy"
        print(
            f"    {kind:13} p50 {p50:9.2f} ms  p99 {p99:9.2f} ms  recall@10 {recall:.3f}{ratio}", flush=True
        )


def summary_rows(results: list[Result]) -> list[str]:
    """A markdown table of every result, for docs/search-engines.md."""
    rows = [
        "| data | N | engine | build | queries | "
        + " | ".join(f"{kind} p50/p99 ms (recall)" for kind in KINDS)
        + " |",
        "|---" * (5 + len(KINDS)) + "|",
    ]
    for result in results:
        cells = []
        for kind in KINDS:
            latencies = result.latencies_ms.get(kind, [])
            if not latencies:
                cells.append("-")
                continue
            p50, p99 = np.percentile(latencies, 50), np.percentile(latencies, 99)
            cells.append(f"{p50:.1f} / {p99:.1f} ({np.mean(result.recalls[kind]):.3f})")
        queries = len(next(iter(result.latencies_ms.values()), []))
        rows.append(
            f"| {result.variant} | {result.size:,} | {result.engine} | {result.build_s:.1f} s | {queries} | "
            + " | ".join(cells)
            + " |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200, help="queries per kind")
    parser.add_argument("--engines", default="numpy,local,edge")
    parser.add_argument("--variants", default="clustered,random")
    parser.add_argument(
        "--random-engines", default=None, help="engines for the random variant (default: --engines)"
    )
    parser.add_argument("--local-cap", type=int, default=20, help="local mode's queries per kind, large N")
    parser.add_argument("--local-cap-from", type=int, default=50_000, help="N from which --local-cap applies")
    parser.add_argument("--local-max-size", type=int, default=10**9, help="skip local mode above this N")
    parser.add_argument(
        "--random-sizes", type=int, nargs="+", default=None, help="sizes of the random variant"
    )
    parser.add_argument("--real-images", type=int, default=1000, help="Grocery Store images to embed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--edge-ef",
        default="default",
        help="comma-separated HNSW beam widths to rerun Edge's queries with "
        "('default': the store's, 'engine': Edge's own)",
    )
    parser.add_argument("--json", type=Path, default=CACHE / "search_latency.json")
    args = parser.parse_args()

    named = {"default": None, "engine": 0}
    efs = [named[value] if value in named else int(value) for value in args.edge_ef.split(",")]
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"cores {os.cpu_count()}; load (1 min) {os.getloadavg()[0]:.1f} at start", flush=True)
    base = real_vectors(args.real_images)
    results: list[Result] = []
    for variant in args.variants.split(","):
        engines = (
            args.random_engines if variant == "random" and args.random_engines else args.engines
        ).split(",")
        sizes = args.random_sizes if variant == "random" and args.random_sizes else args.sizes
        for size in sizes:
            rng = np.random.default_rng(args.seed)
            catalog = make_catalog(base if variant == "clustered" else None, size, rng)
            queries = make_queries(base if variant == "clustered" else None, catalog, args.queries, rng)
            matched = [
                float(np.mean(filter_mask(catalog, q.search_filter)))
                for q in queries[:40]
                if q.kind.startswith("filter")
            ]
            print(
                f"\n{variant} vectors, N={size:,} ({int(catalog.product_ids[-1]) + 1:,} products); "
                f"filters match {np.mean(matched[0::2]):.2%} and {np.mean(matched[1::2]):.2%} of points",
                flush=True,
            )
            # NumPy's own timed run is the ground truth; it always runs first.
            truth: list[set[int]] = []
            [baseline] = run_engine("numpy", variant, catalog, queries, None, None, truth)
            print_result(baseline, baseline)
            results.append(baseline)
            for name in [engine for engine in engines if engine != "numpy"]:
                if name == "local" and size > args.local_max_size:
                    print(f"  local  skipped: N > --local-max-size {args.local_max_size}", flush=True)
                    continue
                cap = args.local_cap if name == "local" and size >= args.local_cap_from else None
                if cap is not None:
                    print(f"  (local mode: only the first {cap} queries per kind at this size)", flush=True)
                for result in run_engine(name, variant, catalog, queries, truth, cap, [], efs):
                    print_result(result, baseline)
                    results.append(result)
    print("\n" + "\n".join(summary_rows(results)), flush=True)
    args.json.write_text(json.dumps([result.__dict__ for result in results], indent=1))
    print(f"\nraw figures: {args.json}; load (1 min) {os.getloadavg()[0]:.1f} at end", flush=True)


if __name__ == "__main__":
    main()

"""Latency and requests/s of "similar products" and "search by photo" through `vitrine serve`.

Run from the repository root:

    .venv/bin/python benchmarks/http_search.py [--products 100000] [--quick] [--rebuild] [--profile]

The deployment: a catalog of N products in PostgreSQL (the tests' server, 127.0.0.1:5432, a
database `vitrine_bench_http_<N>` kept between runs), one generated 96x96 JPEG per product
and a second for every third one, and a Qdrant Edge collection under
`var/bench/http_search/<N>/` that the app reads as in production. Products are written by
`CatalogService.bulk_upsert` and images through the image store and `queries.add_image`.
Embedding every photo would take about an hour on two cores, so the vectors are synthetic:
real EfficientNet-Lite0 embeddings of 240 sample-catalog photos (24 shapes x 10 shots),
each image's vector one of them plus Gaussian noise (a product's photos share a draw), so
the collection is clustered like a real one. They are written with the sync's own payloads
(`point_payload`), the index is optimised (HNSW), registered and activated, and then a real
`SyncService.run()` must find nothing to do; last the database is vacuumed and analysed (the
tests' server has no autovacuum). Building takes minutes, so it is cached; `--rebuild` starts again.

In one run, with the same requests from 1, 4 and 16 client threads (keep-alive connections):

- baseline: the bare engine call, no HTTP: `SearchService.similar_products` and, for a photo,
  `ImageStore.decode` + `SearchService.search_by_image` in this process, on the same deployment;
- ours: `vitrine serve` (1 worker x 4 threads, Edge in the worker) and `vitrine serve --workers 2`
  (a store process owns the Edge folder; the workers call it over a Unix socket).
  Each server starts on a warm page cache (the collection's files read once first), as a server
  that has been running would.

Requests: `GET /products/<id>/similar?limit=10&in_stock=true` over random products, and
`POST /search` (limit 10) with a 4032x3024 phone-size JPEG of about 2.6 MB. Goals (issue 11): at
1 client, similar p99 < 25 ms and search-by-photo p99 < 150 ms; at 16 clients no error and a
bounded p99. The ratio column is ours / baseline for each figure.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import itertools
import json
import os
import pstats
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from backend.catalog import live_collections
from backend.catalog import queries as catalog
from backend.catalog.database import transaction, upgrade_schema
from backend.catalog.schema import Product
from backend.demo.sample_catalog import draw_product, sample_products
from backend.filters.fields import point_payload
from backend.filters.search_filter import SearchFilter
from backend.search.service import Page
from backend.settings import Settings
from backend.vectors.page_cache import read_through
from backend.vectors.types import IndexPoint
from backend.wiring import Services, build_services

ROOT = Path("var/bench/http_search")
SERVER_URL = os.environ.get(
    "VITRINE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CLIENTS = (1, 4, 16)
GOALS_MS = {"similar": 25.0, "photo": 150.0}
NOISE = 0.55  # per-coordinate noise x sqrt(dimension): cosine to the cluster centre about 0.9
CHUNK = 2000
# What a keep-alive connection the server closed while idle raises; HTTP clients retry those.
STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


@dataclass(frozen=True)
class Deployment:
    data_dir: Path
    database_url: str

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.database_url)

    def environment(self) -> dict[str, str]:
        env = {**os.environ, "VITRINE_DATA_DIR": str(self.data_dir), "DATABASE_URL": self.database_url}
        for name in ("QDRANT_URL", "VITRINE_EMBEDDED_ENGINE", "VITRINE_ADMIN_TOKEN"):
            env.pop(name, None)
        return env


@dataclass(frozen=True)
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


# --- building the deployment -------------------------------------------------------------------


def deployment_for(products: int, rebuild: bool) -> Deployment:
    folder = ROOT / str(products)
    database = f"vitrine_bench_http_{products}"
    deployment = Deployment(
        folder.resolve(), make_url(SERVER_URL).set(database=database).render_as_string(False)
    )
    marker = folder / "built.json"
    if marker.is_file() and not rebuild:
        print(f"reusing the deployment in {folder} ({marker.read_text().strip()})")
        return deployment
    started = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    admin = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    upgrade_schema(deployment.database_url)
    services = build_services(deployment.settings())
    try:
        build_catalog(services, products)
        points = build_index(services)
    finally:
        services.close()
    built = {"products": products, "points": points, "build_s": round(time.perf_counter() - started, 1)}
    marker.write_text(json.dumps(built) + "\n")
    print(f"built {built}")
    return deployment


def product_rows(products: int) -> Iterator[str]:
    for n in range(products):
        yield json.dumps(
            {
                "sku": f"BENCH-{n:07d}",
                "name": f"Product {n}",
                "brand": f"Brand {n % 40}",
                "category": f"Category {n % 50}",
                "price": 5 + (n * 37) % 9500 / 100,
                "currency": "EUR",
                "in_stock": n % 4 != 0,
                "attributes": {"colour": ("red", "green", "blue")[n % 3]},
            }
        )


def product_photo(product_id: int, photo: int) -> bytes:
    rng = np.random.default_rng(product_id * 2 + photo)
    pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).resize((96, 96), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def build_catalog(services: Services, products: int) -> None:
    started = time.perf_counter()
    rows = product_rows(products)
    for _ in range(0, products, 20_000):
        report = services.catalog.bulk_upsert(itertools.islice(rows, 20_000))
        assert not report.errors, report.errors[:3]
    print(f"  {products} products in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    last = 0
    while True:
        with transaction(services.sessions) as session:
            page = list(
                session.scalars(select(Product).where(Product.id > last).order_by(Product.id).limit(CHUNK))
            )
            for product in page:
                product.images = []
                for photo in range(2 if product.id % 3 == 0 else 1):
                    data = product_photo(product.id, photo)
                    checked = services.images.check(data, name=f"{product.sku}-{photo}.jpg")
                    services.images.write(data, checked)
                    catalog.add_image(session, product, checked, original_name=f"{product.sku}-{photo}.jpg")
        if len(page) < CHUNK:
            break
        last = page[-1].id
    print(f"  images in {time.perf_counter() - started:.0f} s", flush=True)


def cluster_centres(services: Services) -> np.ndarray:
    embedder = services.models.get()
    photos = [draw_product(product, variant=v) for product in sample_products() for v in range(10)]
    return embedder.embed(photos)


def build_index(services: Services) -> int:
    """Synthetic vectors written as the sync writes its points; then a real sync must do nothing."""
    embedder = services.models.get()
    key, dimension = embedder.info.key, embedder.info.dimension
    collection = services.store.collection_name(key)
    centres = cluster_centres(services)
    rng = np.random.default_rng(11)
    services.store.ensure_collection(collection, dimension)
    with transaction(services.sessions) as session:
        live_collections.register_index(session, collection, services.models.spec, key, dimension)
    started, points = time.perf_counter(), 0
    with services.sessions() as session:
        for page in catalog.iter_indexed_pages(session):
            product_noise: dict[int, np.ndarray] = {}
            batch = []
            for item in page:
                shared = product_noise.setdefault(
                    item.product_id, rng.standard_normal(dimension).astype(np.float32)
                )
                own = rng.standard_normal(dimension).astype(np.float32)
                vector = centres[item.product_id % len(centres)] + NOISE * (shared + 0.5 * own) / np.sqrt(
                    dimension
                )
                batch.append(
                    IndexPoint(item.image_id, vector / np.linalg.norm(vector), point_payload(item, key))
                )
            services.store.upsert(collection, batch)
            points += len(batch)
    print(f"  {points} points upserted in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    services.store.optimize(collection)
    print(f"  index optimised in {time.perf_counter() - started:.0f} s", flush=True)
    services.store.point_alias(services.store.active_alias, collection)
    with transaction(services.sessions) as session:
        live_collections.activate_index(session, collection)
    report = services.sync.run()
    assert not report.changed and not report.failed, report
    print(f"  vitrine sync found nothing to do ({report.unchanged} unchanged)", flush=True)
    # The tests' server runs without autovacuum, so the planner would have no statistics and
    # every first read of a fresh row would write its hint bits, as no production server does.
    with services.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    return points


def phone_jpeg() -> bytes:
    """A 4032x3024 JPEG of about 2.6 MB: smooth colour fields with sensor-like noise."""
    rng = np.random.default_rng(7)
    base = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).resize(
        (4032, 3024), Image.Resampling.BICUBIC
    )
    grain = rng.normal(0, 10, (3024, 4032, 3))
    pixels = np.clip(np.asarray(base, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels).filter(ImageFilter.SMOOTH)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


# --- measuring ---------------------------------------------------------------------------------


def summarise(latencies: list[float], elapsed: float, errors: int) -> Figures:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Figures(len(ordered) / elapsed, ordered[len(ordered) // 2] * 1000, p99 * 1000, errors)


def run_threads(call: Callable[[int], bool], requests: int, clients: int) -> Figures:
    def timed(index: int) -> tuple[float, bool]:
        started = time.perf_counter()
        ok = call(index)
        return time.perf_counter() - started, ok

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(timed, range(requests)))
    elapsed = time.perf_counter() - started
    return summarise([seconds for seconds, _ in results], elapsed, sum(not ok for _, ok in results))


def bare_engine(
    deployment: Deployment, plan: dict[str, int], ids: list[int], photo: bytes, profile: bool
) -> dict[str, Figures]:
    services = build_services(deployment.settings())
    search = services.search
    in_stock = SearchFilter(in_stock=True)
    try:

        def similar(index: int) -> bool:
            return len(search.similar_products(ids[index % len(ids)], in_stock, Page(limit=10)).matches) == 10

        def by_photo(_index: int) -> bool:
            image = services.images.decode(photo, name="phone.jpg")
            return len(search.search_by_image(image, SearchFilter(), Page(limit=10)).matches) == 10

        calls = {"similar": similar, "photo": by_photo}
        for call in calls.values():
            run_threads(call, 3, 1)  # warm-up: model loaded, caches filled
        if profile:
            for name, call in calls.items():
                profiler = cProfile.Profile()
                profiler.runcall(run_threads, call, plan[name], 1)
                print(f"\nprofile of {plan[name]} bare {name} calls, by cumulative time:")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        return {
            f"{name} {clients}": run_threads(call, plan[name] * (2 if clients > 1 else 1), clients)
            for name, call in calls.items()
            for clients in CLIENTS
        }
    finally:
        services.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(deployment: Deployment, workers: int | None) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [sys.executable, "-m", "backend.cli", "serve", "--bind", f"127.0.0.1:{port}"]
    if workers is not None:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(
        command, env=deployment.environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.5)
        if process.poll() is not None:
            break
    process.kill()
    raise SystemExit("vitrine serve did not start")


class Client:
    """A keep-alive connection per client thread; failures are kept to be printed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connections: dict[int, http.client.HTTPConnection] = {}
        self.failures: list[str] = []

    def send(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> bool:
        key = threading.get_ident()
        reused = key in self.connections
        if not reused:
            self.connections[key] = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        connection = self.connections[key]
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            payload = response.read()
        except OSError as error:
            connection.close()
            del self.connections[key]
            if reused and isinstance(error, STALE_CONNECTION):
                return self.send(method, path, body, headers)
            self.failures.append(f"{method} {path}: {error!r}")
            return False
        if response.status == 200 and json.loads(payload)["count"] == 10:
            return True
        self.failures.append(f"{method} {path}: {response.status} {payload[:200]!r}")
        return False


def multipart(photo: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = "vitrine-bench-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="limit"\r\n\r\n10\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="phone.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def warm_page_cache(deployment: Deployment) -> None:
    """Read the Edge folder's files once, so a server starts as one that has been up a while would.

    The figures are of a running server. A fresh start on a cold page cache is slower at first
    (its read-ahead, backend/vectors/page_cache.py, is still reading the collection in), and how
    much depends on what else the machine did to its page cache meanwhile, not on the server.
    """
    started = time.perf_counter()
    read = read_through(sorted(path for path in (deployment.data_dir / "edge").rglob("*") if path.is_file()))
    seconds = time.perf_counter() - started
    print(f"  page cache: {read / 2**20:.0f} MiB of collection files read in {seconds:.1f} s")


def through_http(
    deployment: Deployment, workers: int | None, plan: dict[str, int], ids: list[int], photo: bytes
) -> dict[str, Figures]:
    warm_page_cache(deployment)
    process, port = serve(deployment, workers)
    body, headers = multipart(photo)
    try:
        client = Client(port)

        def calls(client: Client) -> dict[str, Callable[[int], bool]]:
            return {
                "similar": lambda index: client.send(
                    "GET", f"/products/{ids[index % len(ids)]}/similar?limit=10&in_stock=true"
                ),
                "photo": lambda _index: client.send("POST", "/search", body, headers),
            }

        for call in calls(client).values():
            run_threads(call, 4, 2)  # warm-up: each worker loads the model on its first photo
        figures = {}
        for name in calls(client):
            for clients in CLIENTS:
                client = Client(port)
                cell = f"{name} {clients}"
                figures[cell] = run_threads(
                    calls(client)[name], plan[name] * (2 if clients > 1 else 1), clients
                )
                for failure in client.failures[:5]:
                    print(f"  {cell}: {failure}", flush=True)
        return figures
    finally:
        process.terminate()
        process.wait(timeout=60)


def measured_commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "backend", "embedder"], capture_output=True, text=True
    )
    return head + (" + uncommitted changes" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="2,000 products and few requests (a smoke run)")
    parser.add_argument("--rebuild", action="store_true", help="build the deployment again")
    parser.add_argument("--profile", action="store_true", help="cProfile the bare calls first")
    arguments = parser.parse_args()
    products = 2000 if arguments.quick else arguments.products
    plan = {"similar": 40, "photo": 8} if arguments.quick else {"similar": 300, "photo": 60}
    deployment = deployment_for(products, arguments.rebuild)
    engine = create_engine(deployment.database_url)
    with engine.connect() as connection:
        ids = list(connection.scalars(select(Product.id)))
        assert connection.scalar(select(func.count(Product.id))) == products
    engine.dispose()
    random.Random(5).shuffle(ids)
    photo = phone_jpeg()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M')}; commit {measured_commit()}; {os.cpu_count()} cores; "
        f"load {os.getloadavg()[0]:.1f}; {products} products; photo {len(photo) / 1e6:.1f} MB"
    )
    results = {"bare engine": bare_engine(deployment, plan, ids, photo, arguments.profile)}
    print(f"load {os.getloadavg()[0]:.1f} after the bare calls", flush=True)
    for label, workers in (("vitrine serve", None), ("vitrine serve --workers 2", 2)):
        results[label] = through_http(deployment, workers, plan, ids, photo)
        print(f"load {os.getloadavg()[0]:.1f} after {label}", flush=True)
    report(results)


def report(results: dict[str, dict[str, Figures]]) -> None:
    baseline = results["bare engine"]
    print(f"\n{'':<38}{'baseline: bare engine':>32} |{'ours: HTTP':>32} | ours/baseline")
    print(
        f"{'request, clients, server':<38}"
        + f"{'req/s':>10}{'p50 ms':>11}{'p99 ms':>11} |" * 2
        + "  p50   p99  errors"
    )
    for label, figures in results.items():
        if label == "bare engine":
            continue
        for cell, ours in figures.items():
            bare = baseline[cell]
            print(
                f"{cell + ', ' + label:<38}{bare.rate:>10.1f}{bare.p50_ms:>11.1f}{bare.p99_ms:>11.1f} |"
                f"{ours.rate:>10.1f}{ours.p50_ms:>11.1f}{ours.p99_ms:>11.1f} |"
                f"{ours.p50_ms / bare.p50_ms:>5.2f}{ours.p99_ms / bare.p99_ms:>6.2f}{ours.errors:>8}"
            )
    for label, figures in results.items():
        for name, goal in GOALS_MS.items():
            p99 = figures[f"{name} 1"].p99_ms
            print(
                f"goal {name} p99 < {goal:.0f} ms at 1 client, {label}: {p99:.1f} ms "
                f"({'met' if p99 < goal else 'missed'})"
            )


if __name__ == "__main__":
    main()

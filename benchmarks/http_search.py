"""Requests per second and latency of "similar products" through gunicorn, on this machine.

Prepares a deployment with the generated sample catalog (24 products, 48 photos) in a temp
data dir, then for each server configuration starts `vitrine serve`, sends a fixed number of
GET /products/<id>/similar requests from a few client threads over loopback, and prints
requests/s with p50/p99 latency:

- baseline: qdrant-client's local mode (VITRINE_EMBEDDED_ENGINE=local), 1 worker x 4 threads;
- Qdrant Edge in the worker's process, 1 worker x 1 thread and x 4 threads;
- Qdrant Edge in a store process that 2 gunicorn workers call over a Unix socket
  (`vitrine serve --workers 2`; backend/vectors/store_process.py), x 1 thread and x 4 threads.

The row marked "ours" is what `vitrine serve` runs by default.

Run: .venv/bin/python benchmarks/http_search.py [--requests 400] [--clients 4]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(env: dict[str, str], workers: int, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/products/1/similar?limit=5", timeout=30).close()
            return process, base
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("server did not start")


def measure(base: str, requests: int, clients: int, product_ids: list[int]) -> tuple[float, float, float]:
    def one(index: int) -> float:
        started = time.perf_counter()
        url = f"{base}/products/{product_ids[index % len(product_ids)]}/similar?limit=10&in_stock=true"
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - started
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return requests / elapsed, statistics.median(latencies) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    arguments = parser.parse_args()
    environments = {}
    for engine in ("local", "edge"):
        env = {
            **os.environ,
            "VITRINE_DATA_DIR": tempfile.mkdtemp(prefix=f"vitrine-http-{engine}-"),
            "VITRINE_EMBEDDED_ENGINE": engine,
        }
        env.pop("DATABASE_URL", None)
        env.pop("QDRANT_URL", None)
        subprocess.run(
            [sys.executable, "-m", "backend.cli", "demo"], env=env, check=True, stdout=subprocess.DEVNULL
        )
        environments[engine] = env
    print(f"load {os.getloadavg()[0]:.1f}; {arguments.requests} requests, {arguments.clients} client threads")
    print(f"{'server':<44}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}")
    results = {}
    for label, engine, workers, threads in [
        ("baseline: local mode, 1 worker x 4 threads", "local", 1, 4),
        ("Edge, 1 worker x 1 thread", "edge", 1, 1),
        ("ours: Edge, 1 worker x 4 threads", "edge", 1, 4),
        ("Edge store process, 2 workers x 1 thread", "edge", 2, 1),
        ("Edge store process, 2 workers x 4 threads", "edge", 2, 4),
    ]:
        process, base = serve(environments[engine], workers, threads)
        try:
            measure(base, 20, arguments.clients, list(range(1, 25)))  # warm-up
            results[label] = measure(base, arguments.requests, arguments.clients, list(range(1, 25)))
        finally:
            process.terminate()
            process.wait(timeout=60)
        rate, p50, p99 = results[label]
        print(f"{label:<44}{rate:>8.1f}{p50:>9.1f}{p99:>9.1f}")
    baseline = next(rate for label, (rate, _, _) in results.items() if label.startswith("baseline"))
    for label, (rate, _, _) in results.items():
        if not label.startswith("baseline"):
            print(f"ratio {label} / baseline req/s: {rate / baseline:.2f}x")


if __name__ == "__main__":
    main()

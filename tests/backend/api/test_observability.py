"""Metrics at /metrics, request ids, the JSON access log; and the metrics of several gunicorn workers."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from backend.api.observability import ACCESS_LOGGER
from backend.cli import gunicorn_config
from backend.errors import Unavailable
from backend.wiring import Services
from tests.backend.cli.test_commands import children, command_line, free_port, wait_until_healthy
from tests.pictures import picture_bytes

PRODUCT_RULE = "/products/<id:product_id>"


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def scrape(client: FlaskClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return samples(response.get_data(as_text=True))


def sample(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_url_rule_and_status(client: FlaskClient) -> None:
    for path in ("/products/999", "/products/1000", "/no/such/page", "/health"):
        client.get(path)
    client.delete("/health")  # no rule for this method: 405, and unmatched
    found = scrape(client)
    requests = "vitrine_http_requests_total"
    assert sample(found, requests, method="GET", route=PRODUCT_RULE, status="404") == 2
    assert sample(found, requests, method="GET", route="unmatched", status="404") == 1
    assert sample(found, requests, method="DELETE", route="unmatched", status="405") == 1
    assert sample(found, requests, method="GET", route="/health", status="200") == 1
    routes = {dict(labels).get("route") for _name, labels in found}
    assert not {"/products/999", "/no/such/page"} & routes  # never a raw path
    latency = "vitrine_http_request_duration_seconds_count"
    assert sample(found, latency, method="GET", route=PRODUCT_RULE) == 2
    assert sample(found, "vitrine_http_requests_in_progress") == 1  # the scrape itself; none leaked


def test_an_unknown_method_is_counted_as_other(client: FlaskClient) -> None:
    client.open("/health", method="BREW")
    found = scrape(client)
    assert sample(found, "vitrine_http_requests_total", method="other", route="unmatched", status="405") == 1


def test_the_request_id_is_echoed_and_in_every_error_body(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    given = {"X-Request-ID": "trace-42.a:b"}
    assert client.get("/health", headers=given).headers["X-Request-ID"] == "trace-42.a:b"
    failures = [
        client.get("/products/999", headers=given),  # 404, a domain error
        client.get("/products/99999999999", headers=given),  # 404 from a before_request hook
        client.get("/nowhere", headers=given),  # 404 from routing
        client.post("/search", headers=given),  # 400
        client.delete("/admin/products/1", headers=given),  # 401
        client.post("/admin/products", data="{", content_type="application/json", headers=admin_headers),
    ]
    for response in failures:
        assert response.status_code >= 400
        identifier = response.headers["X-Request-ID"]
        assert response.json["error"]["request_id"] == identifier, response.json  # type: ignore[index]
    assert [response.headers["X-Request-ID"] for response in failures[:-1]] == ["trace-42.a:b"] * 5
    generated = failures[-1].headers["X-Request-ID"]  # none was sent: one is made
    assert len(generated) == 32 and int(generated, 16) >= 0


@pytest.mark.parametrize("offered", ["a" * 129, "two words", "<script>", "id;drop", "é"])
def test_an_unsafe_request_id_is_replaced(client: FlaskClient, offered: str) -> None:
    response = client.get("/products/999", headers={"X-Request-ID": offered})
    identifier = response.headers["X-Request-ID"]
    assert identifier != offered and len(identifier) == 32 and int(identifier, 16) >= 0
    assert response.json["error"]["request_id"] == identifier  # type: ignore[index]


def test_each_request_is_one_json_access_log_line(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    client.get("/products/999", headers={"X-Request-ID": "r-1"})
    client.get("/health")
    lines = [json.loads(record.getMessage()) for record in caplog.records if record.name == ACCESS_LOGGER]
    assert len(lines) == 2
    first = lines[0]
    assert {key: first[key] for key in ("method", "route", "path", "status", "request_id", "pid")} == {
        "method": "GET",
        "route": PRODUCT_RULE,
        "path": "/products/999",
        "status": 404,
        "request_id": "r-1",
        "pid": os.getpid(),
    }
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert lines[1]["route"] == "/health" and lines[1]["status"] == 200


def test_syncs_searches_and_the_index_size_are_measured(
    client: FlaskClient, services: Services, admin_headers: dict[str, str]
) -> None:
    before = scrape(client)
    assert not [key for key in before if key[0] == "vitrine_index_points"]  # no index yet
    product = {"sku": "MUG-1", "name": "Red mug", "category": "mugs", "price": 12.5, "currency": "EUR"}
    product_id = client.post("/admin/products", json=product, headers=admin_headers).json["id"]  # type: ignore[index]
    for mark in (1, 2):
        photo = {"image": (io.BytesIO(picture_bytes((200, 30, 30), mark=mark)), "p.jpg")}
        response = client.post(f"/admin/products/{product_id}/images", data=photo, headers=admin_headers)
        assert response.status_code == 201
    assert client.post("/admin/sync", headers=admin_headers).status_code == 200
    assert client.post("/admin/sync", headers=admin_headers).status_code == 200  # unchanged: adds nothing
    with pytest.raises(Unavailable):
        services.sync.run(model_spec="no-such-model")
    query = {"image": (io.BytesIO(picture_bytes((200, 30, 30), mark=3)), "q.jpg")}
    assert client.post("/search", data=query).status_code == 200
    found = scrape(client)
    assert sample(found, "vitrine_sync_runs_total", outcome="completed") == 2
    assert sample(found, "vitrine_sync_runs_total", outcome="failed") == 1
    assert sample(found, "vitrine_sync_points_total", result="embedded") == 2
    assert sample(found, "vitrine_sync_points_total", result="deleted") == 0
    collection = services.search.collection()
    assert sample(found, "vitrine_index_points", collection=collection) == 2
    assert sample(found, "vitrine_query_embedding_seconds_count") == 1
    assert sample(found, "vitrine_query_embedding_seconds_sum") > 0


# Through gunicorn: two worker processes, one set of numbers.


@pytest.fixture
def migrated(tmp_path: Path) -> dict[str, str]:
    """A migrated, empty deployment on the embedded engine."""
    env = {**os.environ, "VITRINE_DATA_DIR": str(tmp_path / "data")}
    for name in ("DATABASE_URL", "QDRANT_URL", "VITRINE_EMBEDDED_ENGINE", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    migrated = subprocess.run([sys.executable, "-m", "backend.cli", "migrate"], env=env, capture_output=True)
    assert migrated.returncode == 0, migrated.stderr
    return env


# One thread each: while one worker is busy, the other must take the next request.
TWO_WORKERS = ("--workers", "2", "--threads", "1")


@pytest.fixture
def two_workers(
    migrated: dict[str, str], tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    """`vitrine serve --workers 2 --threads 1`; its base URL, its process and its stdout (the access log)."""
    port = free_port()
    access_log = tmp_path / "access.log"
    with access_log.open("w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--bind", f"127.0.0.1:{port}", *TWO_WORKERS],
            env=migrated,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process)
        yield base, process, access_log
    finally:
        process.terminate()
        process.communicate(timeout=60)


def answered_by(access_log: Path, route: str) -> list[int]:
    """The worker pid of each request to `route`, from the JSON access log."""
    lines = [json.loads(line) for line in access_log.read_text().splitlines() if line.startswith("{")]
    return [line["pid"] for line in lines if line["route"] == route]


def missing_product(base: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{base}/products/1", timeout=30)
    assert answer.value.code == 404
    answer.value.close()


def served_count(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        found = samples(response.read().decode())
    return sample(found, "vitrine_http_requests_total", method="GET", route=PRODUCT_RULE, status="404")


def metrics_folder(process: subprocess.Popen[Any]) -> Path:
    """The PROMETHEUS_MULTIPROC_DIR that `vitrine serve` gave its gunicorn."""
    (master,) = [child for child in children(process.pid) if "gunicorn" in command_line(child)]
    environ = Path(f"/proc/{master}/environ").read_bytes().split(b"\0")
    (entry,) = [item for item in environ if item.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(entry.split(b"=", 1)[1].decode())


def test_metrics_sum_the_requests_of_every_worker(
    two_workers: tuple[str, subprocess.Popen[str], Path],
) -> None:
    base, process, access_log = two_workers
    folder = metrics_folder(process)
    made = 0
    # Concurrent rounds until both workers have answered: the kernel decides who accepts.
    for _round in range(10):
        with ThreadPoolExecutor(4) as clients:
            list(clients.map(lambda _: missing_product(base), range(20)))
        made += 20
        if len(set(answered_by(access_log, PRODUCT_RULE))) == 2:
            break
    workers = set(answered_by(access_log, PRODUCT_RULE))
    assert len(workers) == 2, access_log.read_text()[-3000:]
    # Every scrape counts every request, whichever worker answers it.
    with ThreadPoolExecutor(2) as clients:
        assert list(clients.map(lambda _: served_count(base), range(6))) == [made] * 6
    assert len(set(answered_by(access_log, "/metrics"))) >= 1
    # A worker that dies: gunicorn's child_exit drops its live gauge; its counts stay in the sum.
    dead = workers.pop()
    assert (folder / f"gauge_livesum_{dead}.db").exists()
    os.kill(dead, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (folder / f"gauge_livesum_{dead}.db").exists():
        assert time.monotonic() < deadline, "the dead worker was not marked dead"
        time.sleep(0.2)
    assert served_count(base) == made
    process.terminate()
    process.communicate(timeout=60)
    assert not folder.exists()  # gunicorn's on_exit removed it


def test_the_gunicorn_config_names_the_apps_access_logger() -> None:
    assert gunicorn_config.ACCESS_LOGGER == ACCESS_LOGGER

"""Observability: Prometheus metrics at /metrics, a request id per request, a JSON access log.

Metrics are prometheus_client's. Under `vitrine serve` each gunicorn worker is its own process
with its own counters, so there they run in prometheus_client's multiprocess mode: every worker
writes its values to files in `PROMETHEUS_MULTIPROC_DIR` (a fresh folder `vitrine serve` makes)
and a scrape, answered by any worker, sums the files of all of them. Without that variable (the
Flask test client, `flask run`) each app has a registry of its own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, g, request, request_started
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from backend.catalog import live_collections
from backend.errors import Unavailable
from backend.sync.report import SyncReport

if TYPE_CHECKING:
    from backend.wiring import Services

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it is short and cannot break a header or a log line.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
# The route label of a request no URL rule matched: raw paths would make one series per path.
UNMATCHED_ROUTE = "unmatched"
# Any other method (a client may send any token) is counted as "other", for the same reason.
_COUNTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The counts a sync report has, each a sample of vitrine_sync_points_total's `result` label.
SYNC_RESULTS = ("embedded", "reused", "payload_updated", "deleted", "failed")

ACCESS_LOGGER = "vitrine.access"
access_log = logging.getLogger(ACCESS_LOGGER)

blueprint = Blueprint("observability", __name__)


class Metrics:
    """The app's metrics; in multiprocess mode their values live in the shared folder's files."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "vitrine_http_requests",
            "HTTP requests answered, by URL rule and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "vitrine_http_request_duration_seconds",
            "Time from a request's start to its response, by URL rule.",
            ["method", "route"],
            registry=registry,
        )
        self.in_progress = Gauge(
            "vitrine_http_requests_in_progress",
            "Requests being answered now.",
            registry=registry,
            multiprocess_mode="livesum",  # summed over the workers alive now
        )
        self.embedding = Histogram(
            "vitrine_query_embedding_seconds",
            "Time to embed the uploaded photos of one request (search by photo, recommendations).",
            registry=registry,
        )
        self.sync_runs = Counter(
            "vitrine_sync_runs", "Syncs run by this server, by outcome.", ["outcome"], registry=registry
        )
        self.sync_points = Counter(
            "vitrine_sync_points",
            "Points the server's syncs wrote or gave up on, by what was done (the sync report's counts).",
            ["result"],
            registry=registry,
        )
        self.sync_files_removed = Counter(
            "vitrine_sync_files_removed", "Image files the server's syncs collected.", registry=registry
        )

    def count_sync(self, report: SyncReport | None) -> None:
        """Count one sync: its report's numbers, or a failure."""
        if report is None:
            self.sync_runs.labels(outcome="failed").inc()
            return
        self.sync_runs.labels(outcome="completed").inc()
        for result in SYNC_RESULTS:
            count = len(report.failed) if result == "failed" else getattr(report, result)
            self.sync_points.labels(result=result).inc(count)
        self.sync_files_removed.inc(report.files_removed)


class IndexSizeCollector(Collector):
    """vitrine_index_points, counted at scrape time, so it is current whoever changed the index."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "vitrine_index_points", "Points in the collection search uses.", labels=["collection"]
        )
        try:
            with self.services.sessions() as session:
                index = live_collections.active_index(session)
            if index is not None:
                family.add_metric([index.collection], self.services.store.count(index.collection))
        except (Unavailable, SQLAlchemyError):
            pass  # a scrape still answers while a dependency is down; /health tells which one
        yield family


class Observability:
    """What one app measures, and the hooks that measure each request."""

    def __init__(self, services: Services) -> None:
        # prometheus_client picks multiprocess mode from this variable when it is imported, so
        # the app follows the same switch rather than a setting of its own.
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        self.metrics = Metrics(None if self.multiprocess else self.registry)
        self.index_size = IndexSizeCollector(services)
        if not self.multiprocess:
            self.registry.register(self.index_size)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format, of every worker in multiprocess mode."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated upstream
        registry.register(self.index_size)
        return generate_latest(registry)

    def start(self, _app: Flask, **_extra: Any) -> None:
        """`request_started`: sent before every before_request hook, so none can skip it."""
        g.observed_since = time.perf_counter()
        self.metrics.in_progress.inc()

    def finish(self, response: Response) -> Response:
        """after_request: echo the request id, count the request and log it."""
        response.headers[REQUEST_ID_HEADER] = request_id()
        seconds = time.perf_counter() - g.observed_since
        method = request.method if request.method in _COUNTED_METHODS else "other"
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
        self.metrics.requests.labels(method=method, route=route, status=str(response.status_code)).inc()
        self.metrics.latency.labels(method=method, route=route).observe(seconds)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(access_line(route, response.status_code, seconds))
        return response

    def end(self, _error: BaseException | None) -> None:
        """teardown_request: runs even when a response could not be made."""
        if g.pop("observed_since", None) is not None:
            self.metrics.in_progress.dec()


def install_observability(app: Flask) -> None:
    """Measure every request of `app`, serve /metrics, and listen to its search and sync services."""
    services: Services = app.extensions["vitrine"]
    observability = Observability(services)
    app.extensions["vitrine_observability"] = observability
    # A weak reference to a bound method: the app's extensions keep it alive, and no more.
    request_started.connect(observability.start, app)
    app.after_request(observability.finish)
    app.teardown_request(observability.end)
    services.search.embedding_observers.append(observability.metrics.embedding.observe)
    services.sync.finish_observers.append(observability.metrics.count_sync)
    app.register_blueprint(blueprint)


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics; public and read-only like /health, with counts but no catalog data."""
    observability: Observability = current_app.extensions["vitrine_observability"]
    return Response(observability.exposition(), content_type=CONTENT_TYPE_LATEST)


def request_id() -> str:
    """This request's id: the client's X-Request-ID if it is sane, else a new one."""
    if "request_id" not in g:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = offered if _SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    identifier: str = g.request_id
    return identifier


def access_line(route: str, status: int, seconds: float) -> str:
    """One request as a JSON line for the access log."""
    return json.dumps(
        {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "method": request.method,
            "route": route,
            "path": request.path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "request_id": request_id(),
            "pid": os.getpid(),
        }
    )

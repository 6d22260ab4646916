"""Liveness and dependency reachability."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, jsonify
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag

from backend.api import responses
from backend.api.requests import services
from backend.catalog.database import check_database
from backend.errors import Unavailable

blueprint = APIBlueprint("health", __name__, abp_tags=[Tag(name="operations")])


@blueprint.get("/health", responses={200: responses.Health, 503: responses.Health})
def health() -> tuple[Response, int]:
    """Report whether the database and the vector store answer; 503 if either does not."""
    found = services()
    report = {
        "database": _probe(lambda: check_database(found.engine)),
        "vector_store": _probe(found.store.check),
    }
    healthy = all(value == "ok" for value in report.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        **report,
        "vector_store_mode": "embedded" if found.store.embedded else "server",
    }
    return jsonify(body), 200 if healthy else 503


def _probe(check: Callable[[], None]) -> str:
    try:
        check()
    except Unavailable as error:
        return f"unavailable: {error.message}"
    return "ok"

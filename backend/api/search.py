"""Search endpoints: by image, similar products, recommendations."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from backend.api.requests import (
    decode_image,
    facet_fields,
    json_body,
    json_filters,
    page_from,
    product_ids,
    query_request,
    require_multipart,
    services,
    uploaded_image,
    uploads,
)
from backend.api.serializers import serialize_results
from backend.errors import InvalidRequest
from backend.filters.search_filter import SearchFilter
from backend.search.service import SearchResults

blueprint = Blueprint("search", __name__)
STRATEGIES = ("average_vector", "best_score")
RECOMMEND_FIELDS = {"positive", "negative", "filters", "limit", "offset", "min_score", "strategy", "facets"}


@blueprint.post("/search")
def search_by_image() -> Response:
    """Multipart upload `image` plus optional filter fields, `limit`, `offset`, `min_score`, `facets`."""
    require_multipart("image")  # before the form: a urlencoded body is the wrong type, not a bad filter
    search_filter, page, facets = query_request(request.form)
    image = decode_image(*uploaded_image("image"))
    return _respond(services().search.search_by_image(image, search_filter, page), search_filter, facets)


@blueprint.get("/products/<id:product_id>/similar")
def similar_products(product_id: int) -> Response:
    """Products that look like this one, with optional filters in the query string."""
    search_filter, page, facets = query_request(request.args)
    results = services().search.similar_products(product_id, search_filter, page)
    return _respond(results, search_filter.excluding([product_id]), facets)


@blueprint.post("/recommendations")
def recommendations() -> Response:
    """JSON {"positive": [ids], "negative": [ids], "filters", "limit", "offset", "strategy"}.

    Or multipart: the same JSON in the field `request` plus `positive_image` files.
    """
    if request.mimetype.startswith("multipart/form-data"):
        body = _json_field("request")
        images = [decode_image(data, name) for data, name in uploads("positive_image")]
    else:
        body, images = json_body(), []
    unknown = sorted(set(body) - RECOMMEND_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", details={"field": unknown[0]})
    positive = product_ids(body.get("positive", []), "positive")
    negative = product_ids(body.get("negative", []), "negative")
    strategy = body.get("strategy", "average_vector")
    if strategy not in STRATEGIES:
        raise InvalidRequest(
            f"strategy must be one of {', '.join(STRATEGIES)}", details={"field": "strategy"}
        )
    search_filter = json_filters(body)
    results = services().search.recommend(
        positive,
        negative,
        search_filter,
        page_from(body),
        best_score=strategy == "best_score",
        positive_images=images,
    )
    return _respond(
        results, search_filter.excluding([*positive, *negative]), facet_fields(body.get("facets"))
    )


@blueprint.post("/recommendations/session")
def session_recommendations() -> Response:
    """JSON {"viewed": [ids, newest first], "filters", "limit", "offset"}: what to show next."""
    body = json_body()
    unknown = sorted(set(body) - {"viewed", "filters", "limit", "offset", "min_score", "facets"})
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", details={"field": unknown[0]})
    viewed = product_ids(body.get("viewed"), "viewed")
    search_filter = json_filters(body)
    results = services().search.for_session(viewed, search_filter, page_from(body))
    return _respond(results, search_filter.excluding(viewed), facet_fields(body.get("facets")))


def _respond(results: SearchResults, search_filter: SearchFilter, facets: tuple[str, ...]) -> Response:
    counts = services().search.facets(search_filter, facets) if facets else None
    return jsonify(serialize_results(results, counts))


def _json_field(field: str) -> dict[str, Any]:
    raw = request.form.get(field, "{}")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # malformed, a number too long to read, or nested too deep
        raise InvalidRequest(
            f"the field {field!r} must hold a JSON object", details={"field": field}
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"the field {field!r} must hold a JSON object", details={"field": field})
    return body

"""Search endpoints: by image, similar products, recommendations."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..errors import InvalidRequest
from .requests import (
    DEFAULT_LIMIT,
    decoded_upload,
    filters_and_limit,
    json_body,
    json_filters,
    parse_int,
    services,
)
from .serializers import serialize_matches

blueprint = Blueprint("search", __name__)
STRATEGIES = ("average_vector", "best_score")


@blueprint.post("/search")
def search_by_image() -> Response:
    """Multipart upload `image` plus optional filter fields and `limit`."""
    search_filter, limit = filters_and_limit(request.form)
    image = decoded_upload("image")
    matches = services().search.search_by_image(image, search_filter, limit)
    return jsonify(serialize_matches(matches))


@blueprint.get("/products/<int:product_id>/similar")
def similar_products(product_id: int) -> Response:
    """Products that look like this one, with optional filters in the query string."""
    search_filter, limit = filters_and_limit(request.args)
    matches = services().search.similar_products(product_id, search_filter, limit)
    return jsonify(serialize_matches(matches))


@blueprint.post("/recommendations")
def recommendations() -> Response:
    """JSON {"positive": [ids], "negative": [ids], "filters": {...}, "limit", "strategy"}."""
    body = json_body()
    unknown = sorted(set(body) - {"positive", "negative", "filters", "limit", "strategy"})
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", details={"field": unknown[0]})
    positive = _product_ids(body.get("positive"), "positive")
    negative = _product_ids(body.get("negative", []), "negative")
    strategy = body.get("strategy", "average_vector")
    if strategy not in STRATEGIES:
        raise InvalidRequest(
            f"strategy must be one of {', '.join(STRATEGIES)}", details={"field": "strategy"}
        )
    limit = parse_int(body.get("limit"), "limit", default=DEFAULT_LIMIT, minimum=1)
    matches = services().search.recommend(
        positive, negative, json_filters(body), limit, best_score=strategy == "best_score"
    )
    return jsonify(serialize_matches(matches))


def _product_ids(raw: object, name: str) -> list[int]:
    if raw is None:
        raise InvalidRequest(f"{name} is required: a list of product ids", details={"field": name})
    if not isinstance(raw, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in raw
    ):
        raise InvalidRequest(f"{name} must be a list of integer product ids", details={"field": name})
    return list(dict.fromkeys(raw))

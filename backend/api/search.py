"""Search endpoints: by image, similar products, recommendations."""

from __future__ import annotations

import json

from flask import Response, jsonify, request
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag

from backend.api import responses, schemas
from backend.api.requests import (
    decode_image,
    facet_fields,
    form_model,
    json_body,
    json_filters,
    page_of,
    query_filters,
    require_multipart,
    services,
    uploaded_image,
    uploads,
    validated_here,
)
from backend.api.serializers import serialize_results
from backend.errors import InvalidRequest
from backend.filters.search_filter import SearchFilter
from backend.search.service import SearchResults

blueprint = APIBlueprint("search", __name__, abp_tags=[Tag(name="search")])
RESULTS: responses.Responses = {200: responses.Results, **responses.errors(400, 404, 409, 413, 415, 503)}


@blueprint.post("/search", responses=RESULTS)
@validated_here
def search_by_image(form: schemas.SearchForm = None) -> Response:  # type: ignore[assignment]
    """Search by photo: a multipart `image`; optional filters, `limit`, `offset`, `min_score`, `facets`."""
    require_multipart("image")  # before the form: a urlencoded body is the wrong type, not a bad filter
    parts = form_model(schemas.SearchForm, files=("image",))
    search_filter = query_filters(request.form)
    image = decode_image(*uploaded_image("image"), region=parts.region)
    results = services().search.search_by_image(image, search_filter, page_of(parts))
    return _respond(results, search_filter, parts.facets)


@blueprint.get("/products/<id:product_id>/similar", responses=RESULTS)
def similar_products(path: schemas.ProductPath, query: schemas.SearchQuery) -> Response:
    """Products that look like this one, with optional filters in the query string."""
    search_filter = query_filters(request.args)
    results = services().search.similar_products(path.product_id, search_filter, page_of(query))
    return _respond(results, search_filter.excluding([path.product_id]), query.facets)


@blueprint.post("/recommendations", responses=RESULTS)
@validated_here
def recommendations(body: schemas.RecommendationRequest = None) -> Response:  # type: ignore[assignment]
    """Products like the positives and unlike the negatives (JSON).

    Or multipart: the same JSON in the field `request`, plus photos as `positive_image` files.
    """
    if request.mimetype.startswith("multipart/form-data"):
        form = form_model(schemas.RecommendationForm, files=("positive_image",))
        wanted = schemas.RecommendationRequest.model_validate(_json_field("request", form.request))
        images = [decode_image(data, name) for data, name in uploads("positive_image")]
    else:
        wanted, images = schemas.RecommendationRequest.model_validate(json_body()), []
    positive, negative = list(dict.fromkeys(wanted.positive)), list(dict.fromkeys(wanted.negative))
    search_filter = json_filters(wanted.filters)
    results = services().search.recommend(
        positive,
        negative,
        search_filter,
        page_of(wanted),
        best_score=wanted.strategy == "best_score",
        positive_images=images,
    )
    return _respond(results, search_filter.excluding([*positive, *negative]), wanted.facets)


@blueprint.post("/recommendations/session", responses=RESULTS)
def session_recommendations(body: schemas.SessionRequest) -> Response:
    """What to show next after the products viewed (newest first); recent views weigh most."""
    viewed = list(dict.fromkeys(body.viewed))
    search_filter = json_filters(body.filters)
    results = services().search.for_session(viewed, search_filter, page_of(body))
    return _respond(results, search_filter.excluding(viewed), body.facets)


def _respond(results: SearchResults, search_filter: SearchFilter, raw_facets: object) -> Response:
    facets = facet_fields(raw_facets)
    counts = services().search.facets(search_filter, facets) if facets else None
    return jsonify(serialize_results(results, counts))


def _json_field(field: str, raw: str | None) -> object:
    try:
        body = json.loads(raw or "{}")
    except (ValueError, RecursionError):  # malformed, a number too long to read, or nested too deep
        raise InvalidRequest(
            f"the field {field!r} must hold a JSON object", details={"field": field}
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"the field {field!r} must hold a JSON object", details={"field": field})
    return body

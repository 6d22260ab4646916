"""Admin endpoints: catalog changes and sync. Every route needs the admin bearer token."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, jsonify, request

from backend.api.model_specs import allowed_model_spec
from backend.api.requests import json_body, services, uploaded_image
from backend.api.serializers import serialize_image, serialize_product
from backend.errors import Forbidden, InvalidRequest, Unauthorized, UnsupportedMediaType

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
BULK_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


@blueprint.before_request
def require_admin_token() -> None:
    """401 without the right token; 403 when the deployment has no admin token at all."""
    expected = services().settings.admin_token
    if not expected:
        raise Forbidden("the admin API is disabled; set VITRINE_ADMIN_TOKEN to enable it")
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("missing or wrong admin token (Authorization: Bearer <token>)")


@blueprint.post("/products")
def create_product() -> tuple[Response, int]:
    """Create a product from JSON fields; images are added separately."""
    product = services().catalog.create(json_body())
    return jsonify(serialize_product(product)), 201


@blueprint.post("/products/bulk")
def bulk_upsert() -> Response:
    """JSON lines of products (create, or update by SKU); per-row errors, the good rows kept."""
    if request.mimetype not in BULK_TYPES:
        raise UnsupportedMediaType(f"send JSON lines with Content-Type {BULK_TYPES[0]}")
    # NDJSON lines end at "\n" (and "\r\n") only: str.splitlines would also split a valid row at
    # U+2028, NEL or a bare CR inside a string, and shift every later line number.
    lines = [line.removesuffix("\r") for line in request.get_data(as_text=True).split("\n")]
    report = services().catalog.bulk_upsert(lines)
    return jsonify({"created": report.created, "updated": report.updated, "errors": report.errors})


@blueprint.patch("/products/<id:product_id>")
def update_product(product_id: int) -> Response:
    """Change some fields of a product."""
    return jsonify(serialize_product(services().catalog.update(product_id, json_body())))


@blueprint.delete("/products/<id:product_id>")
def delete_product(product_id: int) -> tuple[str, int]:
    """Delete a product; it leaves search results at the next sync."""
    services().catalog.delete(product_id)
    return "", 204


@blueprint.post("/products/<id:product_id>/images")
def add_image(product_id: int) -> tuple[Response, int]:
    """Attach an uploaded image (multipart field `image`)."""
    data, name = uploaded_image("image")
    image = services().catalog.add_image(product_id, data, name)
    return jsonify(serialize_image(image)), 201


@blueprint.delete("/products/<id:product_id>/images/<id:image_id>")
def delete_image(product_id: int, image_id: int) -> tuple[str, int]:
    """Detach an image from a product."""
    services().catalog.delete_image(product_id, image_id)
    return "", 204


@blueprint.post("/sync")
def run_sync() -> Response:
    """Bring the index in line with the catalog now; optional JSON {"model": spec, "activate": bool}."""
    options = json_body() if request.content_length else {}
    unknown = sorted(set(options) - {"model", "activate"})
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", details={"field": unknown[0]})
    model, activate = options.get("model"), options.get("activate", True)
    if (model is not None and not isinstance(model, str)) or not isinstance(activate, bool):
        raise InvalidRequest("model must be a string and activate a boolean")
    if model is not None:
        model = allowed_model_spec(model, services(), services().search.active_model_spec())
    return jsonify(services().sync.run(model_spec=model, activate=activate).to_dict())


@blueprint.get("/sync")
def sync_status() -> Response:
    """Whether a sync is running in this process, its progress, and the last report."""
    return jsonify(services().sync.progress.to_dict())


@blueprint.get("/sync/drift")
def sync_drift() -> Response:
    """What a sync would change now: missing, orphan, stale and other-model points."""
    drift = services().sync.check().drift()
    return jsonify({"in_sync": not any(drift.values()), **drift})

"""Admin endpoints: catalog changes and sync. Every route needs the admin bearer token."""

from __future__ import annotations

import hmac

from flask import Response, jsonify, request
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag

from backend.api import responses, schemas
from backend.api.contract import ADMIN_SECURITY
from backend.api.model_specs import allowed_model_spec
from backend.api.requests import json_body, services, uploaded_image, validated_here
from backend.api.serializers import serialize_image, serialize_product
from backend.errors import Forbidden, Unauthorized, UnsupportedMediaType

blueprint = APIBlueprint(
    "admin", __name__, url_prefix="/admin", abp_tags=[Tag(name="admin")], abp_security=ADMIN_SECURITY
)
BULK_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")
# Every admin route can answer these besides its own.
ADMIN_ERRORS = (400, 401, 403, 503)
PRODUCT: responses.Responses = {200: responses.ProductOut, **responses.errors(*ADMIN_ERRORS, 404, 409, 415)}
NO_CONTENT: responses.Responses = {204: {"description": "done"}, **responses.errors(*ADMIN_ERRORS, 404)}


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


@blueprint.post("/products", responses={201: responses.ProductOut, **PRODUCT})
def create_product(body: schemas.ProductCreate) -> tuple[Response, int]:  # type: ignore[valid-type]
    """Create a product from JSON fields; images are added separately."""
    product = services().catalog.create(body.model_dump(exclude_unset=True))  # type: ignore[attr-defined]
    return jsonify(serialize_product(product)), 201


@blueprint.post(
    "/products/bulk", responses={200: responses.BulkReport, **responses.errors(*ADMIN_ERRORS, 413, 415)}
)
@validated_here
def bulk_upsert() -> Response:
    """JSON lines of products (create, or update by SKU), one transaction; per-row errors, good rows kept."""
    if request.mimetype not in BULK_TYPES:
        raise UnsupportedMediaType(f"send JSON lines with Content-Type {BULK_TYPES[0]}")
    # NDJSON lines end at "\n" (and "\r\n") only: str.splitlines would also split a valid row at
    # U+2028, NEL or a bare CR inside a string, and shift every later line number.
    lines = [line.removesuffix("\r") for line in request.get_data(as_text=True).split("\n")]
    report = services().catalog.bulk_upsert(lines)
    return jsonify({"created": report.created, "updated": report.updated, "errors": report.errors})


@blueprint.patch("/products/<id:product_id>", responses=PRODUCT)
def update_product(path: schemas.ProductPath, body: schemas.ProductUpdate) -> Response:  # type: ignore[valid-type]
    """Change some fields of a product."""
    fields = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    product = services().catalog.update(path.product_id, fields)
    return jsonify(serialize_product(product))


@blueprint.delete("/products/<id:product_id>", responses=NO_CONTENT)
def delete_product(path: schemas.ProductPath) -> tuple[str, int]:
    """Delete a product; it leaves search results at once, and the index at the next sync."""
    services().catalog.delete(path.product_id)
    return "", 204


@blueprint.post(
    "/products/<id:product_id>/images",
    responses={201: responses.ImageOut, **responses.errors(*ADMIN_ERRORS, 404, 413, 415)},
)
@validated_here
def add_image(
    product_id: int,
    path: schemas.ProductPath = None,  # type: ignore[assignment]
    form: schemas.ImageForm = None,  # type: ignore[assignment]
) -> tuple[Response, int]:
    """Attach an uploaded image (multipart field `image`)."""
    data, name = uploaded_image("image")
    image = services().catalog.add_image(product_id, data, name)
    return jsonify(serialize_image(image)), 201


@blueprint.delete("/products/<id:product_id>/images/<id:image_id>", responses=NO_CONTENT)
def delete_image(path: schemas.ImagePath) -> tuple[str, int]:
    """Detach an image from a product."""
    services().catalog.delete_image(path.product_id, path.image_id)
    return "", 204


@blueprint.post("/sync", responses={200: responses.SyncReport, **responses.errors(*ADMIN_ERRORS, 409, 415)})
@validated_here
def run_sync(body: schemas.SyncRequest = None) -> Response:  # type: ignore[assignment]
    """Bring the index in line with the catalog now; an optional JSON body names a model to switch to."""
    options = schemas.SyncRequest.model_validate(json_body() if request.content_length else {})
    model = options.model
    if model is not None:
        model = allowed_model_spec(model, services(), services().search.active_model_spec())
    return jsonify(services().sync.run(model_spec=model, activate=options.activate).to_dict())


@blueprint.get("/sync", responses={200: responses.SyncStatus, **responses.errors(401, 403)})
def sync_status() -> Response:
    """Whether a sync is running in this process, its progress, and the last report."""
    return jsonify(services().sync.progress.to_dict())


@blueprint.get("/sync/drift", responses={200: responses.Drift, **responses.errors(401, 403, 503)})
def sync_drift() -> Response:
    """What a sync would change now: missing, orphan, stale and other-model points."""
    return jsonify(services().sync.check().report())
